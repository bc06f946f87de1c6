// POST /account/password as the SDK and Element send it.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  anonClient,
  assertTokenDead,
  driveInteractiveAuth,
  loggedIn,
  matrixError,
  newUser,
  passwordAuth,
  uia401,
} from "./helpers.js";

async function assertPassword(u, good, bad) {
  const ok = await anonClient().loginWithPassword(u.user, good);
  assert.equal(ok.user_id, u.userId);
  await matrixError(anonClient().loginWithPassword(u.user, bad), 403, "M_FORBIDDEN");
}

test('setPassword(null, ...) sends {"auth":null,...}: 401, then the stage with the session', async () => {
  const u = await newUser("pw");
  const a = await loggedIn(u, "A");
  const b = await loggedIn(u, "B");
  const newPassword = u.password + "-new";

  const data = await uia401(a.client.setPassword(null, newPassword, false));
  assert.deepEqual(await a.client.setPassword(passwordAuth(u, data.session), newPassword, false), {});

  await assertPassword(u, newPassword, u.password);
  // logout_devices: false keeps every session.
  assert.equal((await b.client.whoami()).user_id, u.userId);
  assert.equal((await a.client.whoami()).user_id, u.userId);
});

test("Element's one-shot change: complete stage with identifier and `user`, no session", async () => {
  const u = await newUser("pwel");
  const a = await loggedIn(u, "A");
  const newPassword = u.password + "-element";
  // ChangePassword.tsx: one request, no prior 401.
  const authDict = {
    type: "m.login.password",
    identifier: { type: "m.id.user", user: a.client.getUserId() },
    user: a.client.getUserId(),
    password: u.password,
  };
  assert.deepEqual(await a.client.setPassword(authDict, newPassword, false), {});
  await assertPassword(u, newPassword, u.password);
  assert.equal((await a.client.whoami()).user_id, u.userId);
});

test("a wrong old password: 401 M_FORBIDDEN with the session; nothing changes", async () => {
  const u = await newUser("pwbad");
  const a = await loggedIn(u, "A");
  const data = await uia401(a.client.setPassword(null, "never-set-1", false));
  const err = await matrixError(
    a.client.setPassword(passwordAuth({ ...u, password: "wrong" }, data.session), "never-set-1", false),
    401,
    "M_FORBIDDEN",
  );
  assert.equal(err.data.session, data.session);
  await assertPassword(u, u.password, "never-set-1");
});

test("logoutDevices=true logs out the other devices and keeps the caller's", async () => {
  const u = await newUser("pwlo");
  const a = await loggedIn(u, "A");
  const b = await loggedIn(u, "B");
  const newPassword = u.password + "-lo";
  const data = await uia401(a.client.setPassword(null, newPassword, true));
  assert.deepEqual(await a.client.setPassword(passwordAuth(u, data.session), newPassword, true), {});
  await assertTokenDead(b.client);
  assert.equal((await a.client.whoami()).device_id, a.res.device_id);
  const devices = (await a.client.getDevices()).devices.map((d) => d.device_id);
  assert.deepEqual(devices, [a.res.device_id]);
});

test("setPassword driven by InteractiveAuth (first request with auth null)", async () => {
  const u = await newUser("pwia");
  const a = await loggedIn(u, "A");
  const newPassword = u.password + "-ia";
  const run = driveInteractiveAuth({
    client: a.client,
    doRequest: (auth) => a.client.setPassword(auth, newPassword, false),
    onStage: (stage, _status, ia) => {
      assert.equal(stage, "m.login.password");
      ia.submitAuthDict({ type: "m.login.password", identifier: { type: "m.id.user", user: u.user }, password: u.password });
    },
  });
  assert.deepEqual(await run.result, {});
  assert.equal(run.sent[0], null, "the first request carries auth: null");
  assert.equal(run.sent.length, 2);
  await assertPassword(u, newPassword, u.password);
});
