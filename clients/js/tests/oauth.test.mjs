// mxauth's OAuth 2.0 API driven by openid-client 6 (panva's certified
// OpenID Connect relying party): code + PKCE through mxauth's login and
// consent pages (a scripted browser, ./browser.js), refresh, revocation, and
// the Matrix API with the tokens it got.
//
// Two ways in:
// - as a Matrix client does it: the server metadata from
//   /_matrix/client/v1/auth_metadata, the client registered at its
//   registration_endpoint (RFC 7591), a native client on a loopback redirect;
// - a device without a browser (RFC 8628): openid-client's
//   initiateDeviceAuthorization and pollDeviceAuthorizationGrant while a
//   browser elsewhere follows verification_uri_complete;
// - as a generic OpenID Connect client does it: openid-client's own
//   dynamicClientRegistration (discovery at the issuer's
//   /.well-known/openid-configuration, issuer checked), a web client, the
//   `openid` scope: the id_token validated by openid-client, userinfo.
import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { createServer } from "node:net";
import { test } from "node:test";
import * as oidc from "openid-client";
import { BASE, newUser } from "./helpers.js";
import { walkToLastPage, walkToRedirect, excerpt } from "./browser.js";

// The issuer: mxauth's public_baseurl (clients/run.sh sets it to the server's URL).
const ISSUER = process.env.MXAUTH_PUBLIC_BASEURL ?? `${BASE}/`;
const CLIENT_URI = "https://openid-client.example.org/";

/** A device ID as the spec allows in the scope: 10 letters A-Z. */
function newDeviceId() {
  return Array.from({ length: 10 }, () => String.fromCharCode(65 + randomInt(26))).join("");
}

function matrixScope(deviceId) {
  return `urn:matrix:client:api:* urn:matrix:client:device:${deviceId}`;
}

/**
 * Runs one step, and on failure says which (with the OAuth error and the
 * HTTP status openid-client saw).
 */
async function step(t, label, fn) {
  t.diagnostic(label);
  try {
    return await fn();
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    let cause = e.cause?.message ?? (e.cause && JSON.stringify(e.cause));
    if (e.cause instanceof Response) {
      // openid-client's "unexpected HTTP response": say what came back.
      const body = await e.cause.text().catch(() => "(body already read)");
      cause = `${e.cause.status} from ${e.cause.url}: ${excerpt(body)}`;
    }
    const details = [
      e.status && `HTTP ${e.status}`,
      e.error && `${e.error}${e.error_description ? `: ${e.error_description}` : ""}`,
      e.code,
      cause,
    ].filter(Boolean);
    throw new Error(`${label}: ${e.message}${details.length ? ` (${details.join("; ")})` : ""}`, { cause: e });
  }
}

async function getJson(url) {
  let response;
  try {
    response = await fetch(url, { redirect: "manual" });
  } catch (e) {
    throw new Error(`GET ${url}: ${e.cause?.message ?? e.message}`);
  }
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status}: ${excerpt(text)}`);
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`GET ${url}: 200 but not JSON: ${excerpt(text)}`);
  }
}

async function whoami(accessToken) {
  const response = await fetch(`${BASE}/_matrix/client/v3/account/whoami`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  return { status: response.status, body: await response.json() };
}

async function assertWhoami(accessToken, user, deviceId, what) {
  const { status, body } = await whoami(accessToken);
  assert.equal(status, 200, `whoami with ${what}: ${JSON.stringify(body)}`);
  assert.equal(body.user_id, user.userId, `whoami with ${what}`);
  assert.equal(body.device_id, deviceId, `whoami with ${what}: the device of the scope`);
}

async function assertTokenDead(accessToken, what) {
  const { status, body } = await whoami(accessToken);
  assert.deepEqual([status, body.errcode], [401, "M_UNKNOWN_TOKEN"], `whoami with ${what}: ${JSON.stringify(body)}`);
}

/** A port on 127.0.0.1, held until `close()` so nothing else takes it. */
async function loopbackPort() {
  const server = createServer();
  await new Promise((resolve, reject) => server.listen(0, "127.0.0.1", resolve).on("error", reject));
  return { port: server.address().port, close: () => new Promise((r) => server.close(r)) };
}

/**
 * The authorization code grant with PKCE S256 through the pages; returns the
 * token response (openid-client has checked state, iss if advertised and,
 * with a nonce, the id_token).
 */
async function codeGrant(t, config, { scope, redirectUri, user, nonce }) {
  const verifier = oidc.randomPKCECodeVerifier();
  const challenge = await oidc.calculatePKCECodeChallenge(verifier);
  const state = oidc.randomState();
  const parameters = {
    redirect_uri: redirectUri,
    scope,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state,
  };
  if (nonce) parameters.nonce = nonce;
  const url = oidc.buildAuthorizationUrl(config, parameters);
  t.diagnostic(`authorization URL ${url}`);
  const callback = await step(t, "the browser walks the pages to the redirect URI", () =>
    walkToRedirect(url, redirectUri, { username: user.user, password: user.password }, (line) =>
      t.diagnostic(`  browser: ${line}`),
    ),
  );
  t.diagnostic(`back at the client: ${callback}`);
  assert.equal(callback.searchParams.get("error"), null, `the server sent the browser back with an error: ${callback}`);
  return step(t, "authorizationCodeGrant (the code at the token endpoint)", () =>
    oidc.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: Boolean(nonce),
    }),
  );
}

test("openid-client on auth_metadata's document: a native client, loopback redirect, code + PKCE, refresh, revocation", async (t) => {
  const user = await newUser("oidcn");
  const deviceId = newDeviceId();

  const metadata = await step(t, "GET /_matrix/client/v1/auth_metadata", () =>
    getJson(`${BASE}/_matrix/client/v1/auth_metadata`),
  );
  assert.equal(metadata.issuer, ISSUER, "auth_metadata's issuer is public_baseurl");
  for (const field of ["authorization_endpoint", "token_endpoint", "revocation_endpoint", "registration_endpoint"]) {
    assert.equal(typeof metadata[field], "string", `auth_metadata has ${field}: ${JSON.stringify(metadata)}`);
  }
  assert.ok(metadata.response_types_supported?.includes("code"), "response_types_supported has code");
  for (const grant of ["authorization_code", "refresh_token"]) {
    assert.ok(metadata.grant_types_supported?.includes(grant), `grant_types_supported has ${grant}`);
  }
  assert.ok(metadata.code_challenge_methods_supported?.includes("S256"), "code_challenge_methods_supported has S256");

  const clientMetadata = {
    application_type: "native",
    client_name: "mxauth openid-client test (native)",
    client_uri: CLIENT_URI,
    redirect_uris: ["http://127.0.0.1/"],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
  };
  const registered = await step(t, `POST ${metadata.registration_endpoint} (RFC 7591)`, async () => {
    const response = await fetch(metadata.registration_endpoint, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(clientMetadata),
    });
    const text = await response.text();
    if (response.status !== 201) throw new Error(`${response.status}: ${excerpt(text)}`);
    return JSON.parse(text);
  });
  assert.equal(typeof registered.client_id, "string", JSON.stringify(registered));
  t.diagnostic(`client_id ${registered.client_id}`);

  const config = new oidc.Configuration(metadata, registered.client_id, { ...clientMetadata, ...registered }, oidc.None());
  oidc.allowInsecureRequests(config);

  const loopback = await loopbackPort();
  try {
    const redirectUri = `http://127.0.0.1:${loopback.port}/`;
    const tokens = await codeGrant(t, config, { scope: matrixScope(deviceId), redirectUri, user });
    assert.equal(tokens.token_type.toLowerCase(), "bearer");
    assert.ok(tokens.refresh_token, "the token response has a refresh_token");
    assert.ok(tokens.expiresIn() > 0, "the token response has expires_in");
    await assertWhoami(tokens.access_token, user, deviceId, "the access token");

    const refreshed = await step(t, "refreshTokenGrant", () => oidc.refreshTokenGrant(config, tokens.refresh_token));
    assert.notEqual(refreshed.access_token, tokens.access_token, "a new access token");
    assert.ok(refreshed.refresh_token, "the refresh response has a refresh_token (rotation)");
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token, "the refresh token rotated");
    await assertWhoami(refreshed.access_token, user, deviceId, "the refreshed access token");

    await step(t, "tokenRevocation of the access token", () => oidc.tokenRevocation(config, refreshed.access_token));
    await assertTokenDead(refreshed.access_token, "the revoked access token");
    await assert.rejects(
      oidc.refreshTokenGrant(config, refreshed.refresh_token),
      (e) => {
        assert.equal(e.error, "invalid_grant", `refresh after revocation: ${e.message} ${e.error}`);
        return true;
      },
      "the session's refresh token died with its access token",
    );
  } finally {
    await loopback.close();
  }
});

test("openid-client's own discovery and registration: a web client, openid scope, id_token and userinfo, refresh, revocation", async (t) => {
  const user = await newUser("oidcw");
  const deviceId = newDeviceId();
  const redirectUri = `${CLIENT_URI}callback`;

  const config = await step(t, `dynamicClientRegistration at ${ISSUER} (discovery: .well-known/openid-configuration)`, () =>
    oidc.dynamicClientRegistration(
      new URL(ISSUER),
      {
        application_type: "web",
        client_name: "mxauth openid-client test (web)",
        client_uri: CLIENT_URI,
        redirect_uris: [redirectUri],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "none",
      },
      oidc.None(),
      { execute: [oidc.allowInsecureRequests] },
    ),
  );
  const clientId = config.clientMetadata().client_id;
  t.diagnostic(`client_id ${clientId}`);

  // The OpenID document and the Matrix one describe the same server.
  const discovered = config.serverMetadata();
  const matrixMetadata = await step(t, "GET /_matrix/client/v1/auth_metadata", () =>
    getJson(`${BASE}/_matrix/client/v1/auth_metadata`),
  );
  for (const field of ["issuer", "authorization_endpoint", "token_endpoint", "revocation_endpoint", "registration_endpoint"]) {
    assert.equal(discovered[field], matrixMetadata[field], `${field} of openid-configuration and auth_metadata`);
  }
  assert.equal(typeof discovered.jwks_uri, "string", "openid-configuration has jwks_uri");
  assert.equal(typeof discovered.userinfo_endpoint, "string", "openid-configuration has userinfo_endpoint");

  const nonce = oidc.randomNonce();
  const tokens = await codeGrant(t, config, {
    scope: `openid ${matrixScope(deviceId)}`,
    redirectUri,
    user,
    nonce,
  });
  // openid-client has checked the id_token's signature (jwks_uri), iss, aud,
  // exp, iat and nonce.
  const claims = tokens.claims();
  assert.ok(claims, "an id_token came with the openid scope");
  assert.equal(claims.iss, ISSUER);
  assert.ok([claims.aud].flat().includes(clientId), `aud ${JSON.stringify(claims.aud)} has the client`);
  assert.equal(claims.nonce, nonce);
  t.diagnostic(`id_token sub ${claims.sub}`);
  await assertWhoami(tokens.access_token, user, deviceId, "the access token");

  const userinfo = await step(t, "fetchUserInfo", () => oidc.fetchUserInfo(config, tokens.access_token, claims.sub));
  assert.equal(userinfo.sub, claims.sub);

  const refreshed = await step(t, "refreshTokenGrant", () => oidc.refreshTokenGrant(config, tokens.refresh_token));
  assert.notEqual(refreshed.access_token, tokens.access_token, "a new access token");
  await assertWhoami(refreshed.access_token, user, deviceId, "the refreshed access token");

  // Revoking the refresh token ends the whole session (RFC 7009: "either token").
  const refreshToken = refreshed.refresh_token ?? tokens.refresh_token;
  await step(t, "tokenRevocation of the refresh token", () =>
    oidc.tokenRevocation(config, refreshToken, { token_type_hint: "refresh_token" }),
  );
  await assertTokenDead(refreshed.access_token, "the access token of a session whose refresh token was revoked");
  await assert.rejects(
    oidc.refreshTokenGrant(config, refreshToken),
    (e) => {
      assert.equal(e.error, "invalid_grant", `refresh with a revoked refresh token: ${e.message} ${e.error}`);
      return true;
    },
  );
});

test("openid-client's device authorization grant: a device polls while a browser elsewhere approves", async (t) => {
  const user = await newUser("oidcd");
  const deviceId = newDeviceId();
  const metadata = await step(t, "GET /_matrix/client/v1/auth_metadata", () =>
    getJson(`${BASE}/_matrix/client/v1/auth_metadata`),
  );
  assert.equal(typeof metadata.device_authorization_endpoint, "string", "auth_metadata has device_authorization_endpoint");
  assert.ok(
    metadata.grant_types_supported?.includes("urn:ietf:params:oauth:grant-type:device_code"),
    "grant_types_supported has the device code grant",
  );
  const clientMetadata = {
    application_type: "native",
    client_name: "mxauth openid-client test (device)",
    client_uri: CLIENT_URI,
    grant_types: ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
    token_endpoint_auth_method: "none",
  };
  const registered = await step(t, `POST ${metadata.registration_endpoint} (a device-only client)`, async () => {
    const response = await fetch(metadata.registration_endpoint, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(clientMetadata),
    });
    const text = await response.text();
    if (response.status !== 201) throw new Error(`${response.status}: ${excerpt(text)}`);
    return JSON.parse(text);
  });
  const config = new oidc.Configuration(metadata, registered.client_id, { ...clientMetadata, ...registered }, oidc.None());
  oidc.allowInsecureRequests(config);

  const response = await step(t, "initiateDeviceAuthorization", () =>
    oidc.initiateDeviceAuthorization(config, { scope: matrixScope(deviceId) }),
  );
  for (const field of ["device_code", "user_code", "verification_uri", "verification_uri_complete"]) {
    assert.equal(typeof response[field], "string", `the answer has ${field}: ${JSON.stringify(response)}`);
  }
  assert.ok(response.expires_in > 0 && response.interval > 0, JSON.stringify(response));
  t.diagnostic(`user_code ${response.user_code}, ${response.verification_uri_complete}`);

  // The device polls (openid-client waits `interval` between polls and
  // handles authorization_pending and slow_down) while the user approves.
  const controller = new AbortController();
  const polling = oidc.pollDeviceAuthorizationGrant(config, response, undefined, { signal: controller.signal });
  try {
    const last = await step(t, "the browser follows verification_uri_complete, logs in, approves", () =>
      walkToLastPage(response.verification_uri_complete, { username: user.user, password: user.password }, (line) =>
        t.diagnostic(`  browser: ${line}`),
      ),
    );
    assert.match(last, /data-outcome="approved"/, `the last page: ${excerpt(last)}`);
    const tokens = await step(t, "pollDeviceAuthorizationGrant", () => polling);
    assert.equal(tokens.token_type.toLowerCase(), "bearer");
    assert.ok(tokens.refresh_token, "a refresh_token");
    await assertWhoami(tokens.access_token, user, deviceId, "the device's access token");
    const refreshed = await step(t, "refreshTokenGrant", () => oidc.refreshTokenGrant(config, tokens.refresh_token));
    await assertWhoami(refreshed.access_token, user, deviceId, "the refreshed access token");
  } finally {
    controller.abort();
  }
});
