// Device deletion behind UIA, as the SDK sends it: DELETE /devices/{id} with a
// JSON body ({} first, then {"auth": ...}), and POST /delete_devices.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  assertTokenDead,
  driveInteractiveAuth,
  loggedIn,
  matrixError,
  newUser,
  passwordAuth,
  uia401,
} from "./helpers.js";

const deviceIds = async (client) => (await client.getDevices()).devices.map((d) => d.device_id);

test("deleteDevice: 401 with session and flows, then the m.login.password stage", async () => {
  const u = await newUser("dd");
  const a = await loggedIn(u, "A");
  const b = await loggedIn(u, "B");
  assert.ok((await deviceIds(a.client)).includes(b.res.device_id));

  const data = await uia401(a.client.deleteDevice(b.res.device_id));
  assert.ok(!(data.completed ?? []).includes("m.login.password"));

  const ok = await a.client.deleteDevice(b.res.device_id, passwordAuth(u, data.session));
  assert.deepEqual(ok, {});
  assert.ok(!(await deviceIds(a.client)).includes(b.res.device_id), "device B is gone");
  await assertTokenDead(b.client);
  assert.equal((await a.client.whoami()).device_id, a.res.device_id, "A still works");
});

test("deleteDevice: a wrong password keeps the session; the retry with the same body succeeds", async () => {
  const u = await newUser("ddbad");
  const a = await loggedIn(u, "A");
  const b = await loggedIn(u, "B");
  const first = await uia401(a.client.deleteDevice(b.res.device_id));

  const wrong = await matrixError(
    a.client.deleteDevice(b.res.device_id, passwordAuth({ ...u, password: "wrong" }, first.session)),
    401,
    "M_FORBIDDEN",
  );
  assert.equal(wrong.data.session, first.session, "same session after a failed stage");
  assert.deepEqual(wrong.data.flows, first.flows);
  assert.ok(!(wrong.data.completed ?? []).includes("m.login.password"), "stage not completed");
  assert.ok((await deviceIds(a.client)).includes(b.res.device_id), "nothing deleted yet");

  assert.deepEqual(await a.client.deleteDevice(b.res.device_id, passwordAuth(u, first.session)), {});
  await assertTokenDead(b.client);
});

test("deleteDevice through InteractiveAuth, Element-style (app makes the first request)", async () => {
  const u = await newUser("ddia");
  const a = await loggedIn(u, "A");
  const b = await loggedIn(u, "B");
  // Element's DevicesPanel: the first auth-less request is its own...
  const authData = await uia401(a.client.deleteMultipleDevices([b.res.device_id]));
  let attempts = 0;
  // ...then the 401 goes to InteractiveAuth, which asks the "user" for the
  // password: a wrong one first, then the right one.
  const run = driveInteractiveAuth({
    client: a.client,
    authData,
    doRequest: (auth) => a.client.deleteMultipleDevices([b.res.device_id], auth),
    onStage: (stage, status, ia) => {
      assert.equal(stage, "m.login.password");
      attempts += 1;
      const password = attempts === 1 ? "not-the-password" : u.password;
      // PasswordAuthEntry sends the full user id.
      ia.submitAuthDict({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: u.userId },
        password,
      });
    },
  });
  assert.deepEqual(await run.result, {});
  assert.equal(attempts, 2);
  assert.equal(run.stages[1].status.errcode, "M_FORBIDDEN", JSON.stringify(run.stages));
  assert.deepEqual(
    run.sent.map((s) => s.session),
    [authData.session, authData.session],
    "both submissions carry the session of the first 401",
  );
  await assertTokenDead(b.client);
});

test("deleteMultipleDevices removes several devices after one UIA", async () => {
  const u = await newUser("dmany");
  const a = await loggedIn(u, "A");
  const b = await loggedIn(u, "B");
  const c = await loggedIn(u, "C");
  const ids = [b.res.device_id, c.res.device_id];
  const data = await uia401(a.client.deleteMultipleDevices(ids));
  assert.deepEqual(await a.client.deleteMultipleDevices(ids, passwordAuth(u, data.session)), {});
  assert.deepEqual(await deviceIds(a.client), [a.res.device_id]);
  await assertTokenDead(b.client);
  await assertTokenDead(c.client);
});

test("a client can delete its own current device; its token dies", async () => {
  const u = await newUser("dself");
  const a = await loggedIn(u, "A");
  const data = await uia401(a.client.deleteDevice(a.res.device_id));
  assert.deepEqual(await a.client.deleteDevice(a.res.device_id, passwordAuth(u, data.session)), {});
  await assertTokenDead(a.client);
});

test("another user's password does not pass the stage", async () => {
  const u = await newUser("downer");
  const mallory = await newUser("dmallory");
  const a = await loggedIn(u, "A");
  const b = await loggedIn(u, "B");
  const data = await uia401(a.client.deleteDevice(b.res.device_id));
  // Mallory's own, correct credentials on Alice's session.
  const err = await matrixError(a.client.deleteDevice(b.res.device_id, passwordAuth(mallory, data.session)));
  assert.ok([401, 403].includes(err.httpStatus), `${err.httpStatus} ${JSON.stringify(err.data)}`);
  assert.ok((await deviceIds(a.client)).includes(b.res.device_id), "nothing deleted");
});
