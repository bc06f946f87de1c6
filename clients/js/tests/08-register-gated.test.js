// Registration gated by a registration token and the privacy policy, driven
// by the SDK's InteractiveAuth: the app is asked for the token and for the
// terms, the SDK submits m.login.dummy by itself. Runs against the second
// server clients/run.sh starts (MXAUTH_GATED_URL).
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";
import { createClient } from "matrix-js-sdk";
import { driveInteractiveAuth, uniqueName, userId } from "./helpers.js";

const GATED = process.env.MXAUTH_GATED_URL;
const SECRET = process.env.MXAUTH_GATED_SECRET;
if (!GATED || !SECRET) throw new Error("MXAUTH_GATED_URL is not set: run clients/run.sh");

async function json(path, { method = "GET", token, body } = {}) {
  const res = await fetch(`${GATED}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "content-type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

/** An admin through the shared-secret API, and a fresh registration token. */
async function newToken(uses) {
  const admin = uniqueName("admin");
  const { body: n } = await json("/_synapse/admin/v1/register");
  const mac = createHmac("sha1", SECRET)
    .update(`${n.nonce}\0${admin}\0admin-pw\0admin`)
    .digest("hex");
  const { status, body: reg } = await json("/_synapse/admin/v1/register", {
    method: "POST",
    body: { nonce: n.nonce, username: admin, password: "admin-pw", admin: true, mac },
  });
  assert.equal(status, 200, JSON.stringify(reg));
  const { body: t } = await json("/_synapse/admin/v1/registration_tokens/new", {
    method: "POST",
    token: reg.access_token,
    body: { uses_allowed: uses },
  });
  assert.equal(t.pending, 0);
  return { token: t.token, adminToken: reg.access_token };
}

test("InteractiveAuth registers with a registration token and the terms", async () => {
  const { token, adminToken } = await newToken(1);
  const client = createClient({ baseUrl: GATED });
  const username = uniqueName("gated");
  const asked = [];
  const run = driveInteractiveAuth({
    client,
    doRequest: (auth) =>
      client.registerRequest({ username, password: "gated-password-1", initial_device_display_name: "Element", ...(auth ? { auth } : {}) }),
    onStage: (stage, status, ia) => {
      if (asked.at(-1) === stage) return; // the SDK reports a stage more than once
      asked.push(stage);
      if (stage === "m.login.registration_token") {
        ia.submitAuthDict({ type: "m.login.registration_token", token });
      } else if (stage === "m.login.terms") {
        const policy = ia.getStageParams("m.login.terms")?.policies?.privacy_policy;
        assert.equal(policy?.version, "1.0", JSON.stringify(status));
        assert.match(policy.en.url, /_matrix\/consent\?v=1\.0$/);
        ia.submitAuthDict({ type: "m.login.terms" });
      } else {
        throw new Error(`unexpected stage ${stage}`);
      }
    },
  });
  const res = await run.result;
  assert.equal(res.user_id, userId(username));
  assert.deepEqual(asked, ["m.login.registration_token", "m.login.terms"]);
  assert.equal(run.sent.at(-1).type, "m.login.dummy", "the SDK finished with dummy by itself");

  // The token's single use is now completed.
  const { body: t } = await json(`/_synapse/admin/v1/registration_tokens/${token}`, { token: adminToken });
  assert.deepEqual([t.pending, t.completed], [0, 1]);
  const { body: v } = await json(`/_matrix/client/v1/register/m.login.registration_token/validity?token=${token}`);
  assert.equal(v.valid, false);
  // And the policy page the terms linked to is there.
  const page = await fetch(`${GATED}/_matrix/consent?v=1.0`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /Our policy/);
});

test("a wrong registration token is refused and the SDK asks again", async () => {
  const { token } = await newToken(null);
  const client = createClient({ baseUrl: GATED });
  const username = uniqueName("retry");
  let triedWrong = false;
  const errors = [];
  const run = driveInteractiveAuth({
    client,
    maxRequests: 10,
    doRequest: (auth) => client.registerRequest({ username, password: "retry-password-1", ...(auth ? { auth } : {}) }),
    onStage: (stage, status, ia) => {
      if (stage === "m.login.registration_token") {
        if (status.errcode) errors.push(status.errcode);
        // First a wrong token; after the server refuses it, the right one.
        const submit = triedWrong ? token : "not-a-token";
        triedWrong = true;
        ia.submitAuthDict({ type: "m.login.registration_token", token: submit });
      } else if (stage === "m.login.terms") {
        ia.submitAuthDict({ type: "m.login.terms" });
      }
    },
  });
  const res = await run.result;
  assert.equal(res.user_id, userId(username));
  assert.ok(errors.includes("M_UNAUTHORIZED"), `the wrong token was refused: ${JSON.stringify(errors)}`);
});
