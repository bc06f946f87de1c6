// logout and logout/all: the tokens die, the SDK sees M_UNKNOWN_TOKEN.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Method } from "matrix-js-sdk";
import { assertTokenDead, loggedIn, newUser } from "./helpers.js";

test("logout(true) kills this token only and removes its device", async () => {
  const u = await newUser("lo");
  const a = await loggedIn(u, "A");
  const b = await loggedIn(u, "B");
  assert.deepEqual(await a.client.logout(true), {});
  await assertTokenDead(a.client);
  const { devices } = await b.client.getDevices();
  const ids = devices.map((d) => d.device_id);
  assert.ok(!ids.includes(a.res.device_id), `logged-out device is gone: ${ids}`);
  assert.ok(ids.includes(b.res.device_id));
  assert.equal((await b.client.whoami()).device_id, b.res.device_id);
});

test("POST /logout/all kills every token of the user", async () => {
  const u = await newUser("loall");
  const a = await loggedIn(u, "A");
  const b = await loggedIn(u, "B");
  const other = await loggedIn(await newUser("loother"), "C");
  assert.deepEqual(await a.client.http.authedRequest(Method.Post, "/logout/all"), {});
  await assertTokenDead(a.client);
  await assertTokenDead(b.client);
  // Someone else's session is untouched.
  assert.ok((await other.client.whoami()).user_id);
});
