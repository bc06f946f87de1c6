-- The admin user list with `dir=b` sorts by its column descending and
-- then by name ascending (Synapse's tie-break, whichever the direction):
-- `users_displayname_order` and `users_created_order` (0021) read
-- backwards give the names descending too, so each value's rows went
-- through an Incremental Sort, over every row skipped by `from`. The
-- expressions are those of `store/user_list.rs`.
CREATE INDEX users_displayname_order_desc ON users ((COALESCE(displayname, '')) DESC, name);
CREATE INDEX users_created_order_desc ON users (created_ts DESC, name);
