// What a client asks before logging in: versions, login flows, capabilities.
import assert from "node:assert/strict";
import { test } from "node:test";
import { anonClient, loggedIn, newUser } from "./helpers.js";

test("getVersions lists spec versions the SDK accepts", async () => {
  const client = anonClient();
  const res = await client.getVersions();
  assert.ok(Array.isArray(res.versions) && res.versions.length > 0, JSON.stringify(res));
  // matrix-js-sdk 37 refuses servers without v1.1 or later (SUPPORTED_MATRIX_VERSIONS).
  assert.ok(
    res.versions.some((v) => /^v1\.(\d+)$/.test(v) && Number(v.slice(3)) >= 1),
    `a v1.x >= v1.1 version: ${JSON.stringify(res.versions)}`,
  );
  assert.equal(await client.isVersionSupported(res.versions.at(-1)), true);
});

test("loginFlows offers m.login.password", async () => {
  const res = await anonClient().loginFlows();
  assert.ok(
    res.flows.some((f) => f.type === "m.login.password"),
    JSON.stringify(res),
  );
});

test("getCapabilities says the password can be changed", async () => {
  const { client } = await loggedIn(await newUser("caps"));
  const caps = await client.getCapabilities();
  assert.equal(caps["m.change_password"]?.enabled, true, JSON.stringify(caps));
});
