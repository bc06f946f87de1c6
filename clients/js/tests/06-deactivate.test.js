// POST /account/deactivate as Element's DeactivateAccountDialog drives it.
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

async function assertDeactivated(u, ...clients) {
  for (const c of clients) await assertTokenDead(c);
  const err = await matrixError(anonClient().loginWithPassword(u.user, u.password), 403);
  assert.ok(["M_USER_DEACTIVATED", "M_FORBIDDEN"].includes(err.errcode), JSON.stringify(err.data));
}

test("deactivateAccount: 401, then the stage; every token dies and login is refused", async () => {
  const u = await newUser("deact");
  const a = await loggedIn(u, "A");
  const b = await loggedIn(u, "B");
  const data = await uia401(a.client.deactivateAccount(undefined));
  const res = await a.client.deactivateAccount(passwordAuth(u, data.session));
  // id_server_unbind_result is required in the 200 body.
  assert.ok(["success", "no-support"].includes(res.id_server_unbind_result), JSON.stringify(res));
  await assertDeactivated(u, a.client, b.client);
});

test("Element: auth-less request with erase=false, the user ticks 'erase', new session, InteractiveAuth", async () => {
  const u = await newUser("deel");
  const a = await loggedIn(u, "A");
  // The dialog opens: initAuth(false).
  const first = await uia401(a.client.deactivateAccount(null, false));
  // The user ticks "erase": initAuth(true) starts over with a new session.
  const second = await uia401(a.client.deactivateAccount(null, true));
  assert.notEqual(second.session, first.session);
  const run = driveInteractiveAuth({
    client: a.client,
    authData: second,
    doRequest: (auth) => a.client.deactivateAccount(auth, true),
    onStage: (stage, _status, ia) => {
      assert.equal(stage, "m.login.password");
      ia.submitAuthDict({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: u.userId },
        password: u.password,
      });
    },
  });
  const res = await run.result;
  assert.ok(["success", "no-support"].includes(res.id_server_unbind_result), JSON.stringify(res));
  assert.equal(run.sent.length, 1);
  assert.equal(run.sent[0].session, second.session);
  await assertDeactivated(u, a.client);
});

test("a wrong password does not deactivate", async () => {
  const u = await newUser("dewrong");
  const a = await loggedIn(u, "A");
  const data = await uia401(a.client.deactivateAccount(undefined));
  const err = await matrixError(
    a.client.deactivateAccount(passwordAuth({ ...u, password: "wrong" }, data.session)),
    401,
    "M_FORBIDDEN",
  );
  assert.equal(err.data.session, data.session);
  assert.equal((await a.client.whoami()).user_id, u.userId);
});
