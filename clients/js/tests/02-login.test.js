// Login as the SDK and Element send it, and the errors the SDK must see.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient, HttpApiEvent } from "matrix-js-sdk";
import {
  BASE,
  anonClient,
  assertTokenDead,
  loggedIn,
  matrixError,
  newUser,
  uniqueName,
  userId,
} from "./helpers.js";

test("loginWithPassword (deprecated top-level `user`) logs in and whoami agrees", async () => {
  const u = await newUser("lwp");
  const client = anonClient();
  const res = await client.loginWithPassword(u.user, u.password);
  assert.equal(res.user_id, u.userId);
  assert.ok(res.access_token && res.device_id, JSON.stringify(res));
  // The deprecated login() puts the token on the client itself.
  assert.equal(client.getAccessToken(), res.access_token);
  const me = await client.whoami();
  assert.equal(me.user_id, u.userId);
  assert.equal(me.device_id, res.device_id);
});

test('login("m.login.password") with an m.id.user identifier holding the full user id', async () => {
  const u = await newUser("lfull");
  const client = anonClient();
  const res = await client.login("m.login.password", {
    identifier: { type: "m.id.user", user: u.userId },
    password: u.password,
    initial_device_display_name: "Element on Node",
    device_id: "JSFIXEDDEV",
  });
  assert.equal(res.user_id, u.userId);
  assert.equal(res.device_id, "JSFIXEDDEV");
  const { devices } = await client.getDevices();
  const dev = devices.find((d) => d.device_id === "JSFIXEDDEV");
  assert.ok(dev, JSON.stringify(devices));
  assert.equal(dev.display_name, "Element on Node");
  assert.equal((await client.getDevice("JSFIXEDDEV")).display_name, "Element on Node");
});

test("a client built from the login response works (the SDK's recommended way)", async () => {
  const u = await newUser("lnew");
  const { client, res } = await loggedIn(u, "fresh client");
  assert.equal(client.getUserId(), u.userId);
  assert.equal(client.getDeviceId(), res.device_id);
  const me = await client.whoami();
  assert.deepEqual([me.user_id, me.device_id], [u.userId, res.device_id]);
  await client.setDeviceDetails(res.device_id, { display_name: "renamed" });
  assert.equal((await client.getDevice(res.device_id)).display_name, "renamed");
});

test("a wrong password is M_FORBIDDEN", async () => {
  const u = await newUser("lbad");
  const err = await matrixError(
    anonClient().loginWithPassword(u.user, u.password + "x"),
    403,
    "M_FORBIDDEN",
  );
  assert.equal(typeof err.data.error, "string");
});

test("an unknown user is M_FORBIDDEN too (no user enumeration)", async () => {
  await matrixError(
    anonClient().loginWithPassword(uniqueName("nobody"), "whatever-password"),
    403,
    "M_FORBIDDEN",
  );
});

test("a made-up access token is M_UNKNOWN_TOKEN and the SDK emits Session.logged_out", async () => {
  const client = createClient({ baseUrl: BASE, accessToken: "syt_not_a_token", userId: userId("x") });
  let loggedOutEvent = null;
  client.on(HttpApiEvent.SessionLoggedOut, (e) => (loggedOutEvent = e));
  await assertTokenDead(client);
  assert.ok(loggedOutEvent, "Session.logged_out was emitted");
  assert.equal(loggedOutEvent.errcode, "M_UNKNOWN_TOKEN");
});

test("a request without a token is M_MISSING_TOKEN", async () => {
  await matrixError(anonClient().getDevices(), 401, "M_MISSING_TOKEN");
});
