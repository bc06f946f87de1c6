// Refresh tokens (spec v1.3) as the SDK asks for and uses them.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient } from "matrix-js-sdk";
import { BASE, anonClient, matrixError, newUser } from "./helpers.js";

test("login with refresh_token: true, then the SDK's refreshToken() rotates the pair", async () => {
  const u = await newUser("refresh");
  const res = await anonClient().loginRequest({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: u.user },
    password: u.password,
    refresh_token: true,
  });
  assert.ok(res.refresh_token, JSON.stringify(res));
  assert.equal(typeof res.expires_in_ms, "number", JSON.stringify(res));
  const client = createClient({
    baseUrl: BASE,
    accessToken: res.access_token,
    refreshToken: res.refresh_token,
    userId: res.user_id,
    deviceId: res.device_id,
  });
  const next = await client.refreshToken(res.refresh_token);
  assert.ok(next.access_token && next.refresh_token, JSON.stringify(next));
  assert.notEqual(next.access_token, res.access_token);
  assert.equal(typeof next.expires_in_ms, "number");
  client.setAccessToken(next.access_token);
  const me = await client.whoami();
  assert.deepEqual([me.user_id, me.device_id], [u.userId, res.device_id]);
  // The new access token was used: the old refresh token now ends the session.
  await matrixError(client.refreshToken(res.refresh_token), 401, "M_UNKNOWN_TOKEN");
  await matrixError(client.whoami(), 401, "M_UNKNOWN_TOKEN");
});
