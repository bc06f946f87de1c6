// Shared setup for the matrix-js-sdk tests: where the server is, how to make a
// user, how to log in the way Element does, and how to expect a MatrixError.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { createClient, InteractiveAuth, MatrixError } from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

// The SDK logs every HTTP request and every UIA step; the test output is the
// test runner's. Child loggers copy the root's methodFactory, so one no-op
// factory silences them all. MXAUTH_SDK_LOG=1 keeps the logs.
if (!process.env.MXAUTH_SDK_LOG) {
  logger.methodFactory = () => () => {};
  logger.rebuild();
}

export const BASE = process.env.MXAUTH_URL;
if (!BASE) throw new Error("MXAUTH_URL is not set: run clients/run.sh");
export const SERVER_NAME = process.env.MXAUTH_SERVER_NAME || "localhost";

const run = promisify(execFile);

/** A name no other test (or earlier run against the same database) uses. */
export function uniqueName(prefix) {
  return `${prefix}_${randomBytes(5).toString("hex")}`;
}

export function userId(localpart) {
  return `@${localpart}:${SERVER_NAME}`;
}

/**
 * Creates a user the way an admin does, with `mxauth register-user` straight
 * into the server's database: login and the UIA flows do not depend on
 * registration being open.
 */
export async function newUser(prefix = "js") {
  const user = uniqueName(prefix);
  const password = `pw-${randomBytes(6).toString("hex")}`;
  const bin = process.env.MXAUTH_BIN;
  if (!bin) throw new Error("MXAUTH_BIN is not set: run clients/run.sh");
  const args = ["register-user", "-u", user, "-p", password];
  if (process.env.MXAUTH_CONFIG) args.splice(1, 0, "--config", process.env.MXAUTH_CONFIG);
  await run(bin, args, { cwd: process.env.MXAUTH_WORKDIR || process.cwd() });
  return { user, password, userId: userId(user) };
}

/** A client with no credentials. */
export function anonClient() {
  return createClient({ baseUrl: BASE });
}

/**
 * Logs in as Element does (loginRequest with an m.id.user identifier) and
 * returns a client built from the response, as the SDK recommends.
 */
export async function loggedIn({ user, password }, deviceName = "js-test") {
  const res = await anonClient().loginRequest({
    type: "m.login.password",
    identifier: { type: "m.id.user", user },
    password,
    initial_device_display_name: deviceName,
  });
  assert.ok(res.access_token, "login returns an access_token");
  assert.ok(res.device_id, "login returns a device_id");
  const client = createClient({
    baseUrl: BASE,
    accessToken: res.access_token,
    userId: res.user_id,
    deviceId: res.device_id,
  });
  return { client, res };
}

/** The m.login.password stage dict Element builds. */
export function passwordAuth({ user, password }, session) {
  const auth = { type: "m.login.password", identifier: { type: "m.id.user", user }, password };
  if (session !== undefined) auth.session = session;
  return auth;
}

/** Awaits `promise`, which must reject with a MatrixError; returns it. */
export async function matrixError(promise, httpStatus, errcode) {
  let err;
  try {
    const value = await promise;
    assert.fail(`expected a ${httpStatus ?? ""} ${errcode ?? ""} error, got success: ${JSON.stringify(value)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  assert.ok(err instanceof MatrixError, `expected a MatrixError, got ${err}`);
  if (httpStatus !== undefined) assert.equal(err.httpStatus, httpStatus, `HTTP status of ${JSON.stringify(err.data)}`);
  if (errcode !== undefined) assert.equal(err.errcode, errcode, `errcode of ${JSON.stringify(err.data)}`);
  return err;
}

/** Awaits a UIA 401 and checks its shape; returns the response body. */
export async function uia401(promise, expectedStage = "m.login.password") {
  const err = await matrixError(promise, 401);
  const data = err.data;
  assert.equal(typeof data.session, "string", `401 carries a session: ${JSON.stringify(data)}`);
  assert.ok(data.session.length > 0);
  assert.ok(Array.isArray(data.flows), `401 carries flows: ${JSON.stringify(data)}`);
  assert.ok(
    data.flows.some((f) => Array.isArray(f.stages) && f.stages.includes(expectedStage)),
    `some flow has ${expectedStage}: ${JSON.stringify(data.flows)}`,
  );
  return data;
}

/** The token is dead: the server says M_UNKNOWN_TOKEN through the SDK. */
export async function assertTokenDead(client) {
  await matrixError(client.whoami(), 401, "M_UNKNOWN_TOKEN");
}

/**
 * Drives the SDK's InteractiveAuth as Element's InteractiveAuth component
 * does: `doRequest` re-sends the app's own body with the `auth` dict the SDK
 * hands over; when a stage needs the user, `onStage(stage, status, ia)` plays
 * the user (for m.login.password: `ia.submitAuthDict({...})`). Records every
 * auth dict sent, and stops a client/server loop (e.g. an m.login.dummy that
 * is never marked completed) after `maxRequests`.
 */
export function driveInteractiveAuth({ client, authData, doRequest, onStage, maxRequests = 8 }) {
  const sent = [];
  const stages = [];
  let ia;
  let looping = null;
  let reject;
  const failed = new Promise((_, r) => (reject = r));
  const guarded = async (auth) => {
    sent.push(auth === null ? null : structuredClone(auth));
    if (sent.length > maxRequests) {
      looping = new Error(`InteractiveAuth looped: ${sent.length} requests: ${JSON.stringify(sent)}`);
      throw looping;
    }
    return doRequest(auth);
  };
  ia = new InteractiveAuth({
    matrixClient: client,
    authData,
    doRequest: guarded,
    stateUpdated: (stage, status) => {
      stages.push({ stage, status: structuredClone(status) });
      Promise.resolve()
        .then(() => onStage(stage, status, ia))
        .catch((e) => reject(e));
    },
    requestEmailToken: async () => {
      throw new Error("no e-mail stage expected");
    },
  });
  const result = Promise.race([ia.attemptAuth(), failed]).catch((e) => {
    throw looping ?? e;
  });
  return { ia, sent, stages, result };
}
