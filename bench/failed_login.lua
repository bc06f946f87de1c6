-- wrk script: one failing password login, sent again and again.
-- Arguments (after `--`): USER PASSWORD. Counts the answers by status, so
-- the report can tell that every one was the expected 403.
-- Globals (not locals) so that done() can read them from each thread.

threads = {}
forbidden = 0
other = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local body = string.format(
    '{"type":"m.login.password","identifier":{"type":"m.id.user","user":"%s"},"password":"%s"}',
    args[1], args[2])
  req = wrk.format("POST", "/_matrix/client/v3/login", { ["Content-Type"] = "application/json" }, body)
end

function request()
  return req
end

function response(status, hdrs, body)
  if status == 403 then forbidden = forbidden + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local t_forbidden, t_other = 0, 0
  for _, t in ipairs(threads) do
    t_forbidden = t_forbidden + t:get("forbidden")
    t_other = t_other + t:get("other")
  end
  io.write(string.format("mxbench: ok=%d failed=%d duration_us=%d\n",
    t_forbidden, t_other, summary.duration))
end
