// Registration (needs enable_registration and
// enable_registration_without_verification): the m.login.dummy flow driven by
// the SDK's InteractiveAuth, as Element's Registration view does it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient } from "matrix-js-sdk";
import {
  BASE,
  anonClient,
  driveInteractiveAuth,
  matrixError,
  uia401,
  uniqueName,
  userId,
} from "./helpers.js";

/** Registration.tsx's makeRegisterRequest: the app's own body plus `auth`. */
function registerBody(username, password, auth) {
  const body = {
    username,
    password,
    initial_device_display_name: "Element on Node",
    auth: undefined,
    inhibit_login: undefined,
  };
  if (auth) body.auth = auth;
  return body;
}

async function registerWithInteractiveAuth(client, username, password) {
  return driveInteractiveAuth({
    client,
    doRequest: (auth) => client.registerRequest(registerBody(username, password, auth)),
    onStage: (stage) => {
      throw new Error(`the app was asked for stage ${stage}: only m.login.dummy was expected`);
    },
  });
}

test("InteractiveAuth registers through m.login.dummy, which the SDK submits by itself", async () => {
  const client = anonClient();
  const username = uniqueName("reg");
  const password = "correct horse battery staple";
  const run = await registerWithInteractiveAuth(client, username, password);
  const res = await run.result;

  assert.equal(res.user_id, userId(username));
  assert.ok(res.access_token && res.device_id, JSON.stringify(res));
  assert.equal(run.stages.length, 0, "the app was never asked for a stage");
  assert.equal(run.sent.length, 2, `two requests: ${JSON.stringify(run.sent)}`);
  assert.equal(run.sent[0], null);
  assert.deepEqual(Object.keys(run.sent[1]).sort(), ["session", "type"]);
  assert.equal(run.sent[1].type, "m.login.dummy");

  const me = createClient({ baseUrl: BASE, accessToken: res.access_token, userId: res.user_id });
  const who = await me.whoami();
  assert.deepEqual([who.user_id, who.device_id], [res.user_id, res.device_id]);
  const { devices } = await me.getDevices();
  assert.equal(devices.find((d) => d.device_id === res.device_id)?.display_name, "Element on Node");
  // And the password works for a later login.
  assert.equal((await anonClient().loginWithPassword(username, password)).user_id, res.user_id);
});

test("Element's flow discovery (no username), then a new session for the real registration", async () => {
  const client = anonClient();
  // Registration.tsx: registerRequest({initial_device_display_name}) to learn the flows.
  const probe = await uia401(
    client.registerRequest({ initial_device_display_name: "Element on Node" }),
    "m.login.dummy",
  );
  assert.ok(probe.flows.some((f) => f.stages.length === 1 && f.stages[0] === "m.login.dummy"), JSON.stringify(probe.flows));
  const username = uniqueName("regel");
  const run = await registerWithInteractiveAuth(client, username, "a-fine-password-1");
  const res = await run.result;
  assert.equal(res.user_id, userId(username));
  assert.notEqual(run.sent[1].session, probe.session, "the probe's session is left unused");
});

test("client.register() with a one-shot m.login.dummy (no session) registers", async () => {
  const client = anonClient();
  const username = uniqueName("regone");
  const res = await client.register(username, "a-fine-password-2", undefined, { type: "m.login.dummy" });
  assert.equal(res.user_id, userId(username));
  assert.ok(res.access_token, JSON.stringify(res));
});

test("client.register() 401 dance: no auth, then the dummy stage with the session", async () => {
  const client = anonClient();
  const username = uniqueName("regdance");
  const data = await uia401(client.register(username, "a-fine-password-3", undefined, undefined), "m.login.dummy");
  const res = await client.register(username, "a-fine-password-3", data.session, { type: "m.login.dummy" });
  assert.equal(res.user_id, userId(username));
});

test("isUsernameAvailable and M_USER_IN_USE for a taken name", async () => {
  const client = anonClient();
  const username = uniqueName("regtaken");
  assert.equal(await client.isUsernameAvailable(username), true);
  const first = await registerWithInteractiveAuth(client, username, "a-fine-password-4");
  await first.result;
  assert.equal(await client.isUsernameAvailable(username), false);

  const again = await registerWithInteractiveAuth(anonClient(), username, "a-fine-password-5");
  const err = await matrixError(again.result, 400, "M_USER_IN_USE");
  assert.equal(typeof err.data.error, "string");
});
