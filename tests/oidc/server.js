// A real OpenID Connect provider (oidc-provider) for mxauth's SSO tests.
//
// Listens on a free loopback port (or $PORT) and prints one line,
// `listening <issuer>`, once it is ready. One confidential client is
// registered: `mxauth` / `mxauth-secret`, a "native" client whose redirect
// URI is mxauth's callback on 127.0.0.1 with any port (RFC 8252 loopback
// rule), so tests can start mxauth on a random port.
//
// Logging in: oidc-provider's development login form (any login; the
// password is not checked). The login names the account; its claims come
// from ACCOUNTS below, or are derived from the login for any other name.
// Consent is granted without asking (a first-party client).

import http from 'node:http';
import Provider from 'oidc-provider';

const ACCOUNTS = {
  // Has the `staff` group (for attribute_requirements tests).
  alice: { preferred_username: 'Alice', name: 'Alice Liddell', email: 'alice@wonderland.test', email_verified: true, groups: ['staff', 'dev'] },
  // No groups.
  mallory: { preferred_username: 'mallory', name: 'Mallory', email: 'mallory@evil.test', email_verified: true, groups: [] },
  // A name that needs mapping (escaped as Synapse does).
  jose: { preferred_username: 'José María!', name: 'José María', email: 'jose@example.test', email_verified: false, groups: ['staff'] },
  // Names that must never become `admin` (accent, email address).
  accented: { preferred_username: 'ádmin', name: 'Not Admin', email: 'accented@example.test', email_verified: true, groups: [] },
  emailname: { preferred_username: 'admin@evil.example', name: 'Not Admin Either', email: 'emailname@example.test', email_verified: true, groups: [] },
  // Emails the provider does not say are verified (no email_verified at all).
  unsure: { preferred_username: 'unsure', name: 'Unsure', email: 'unsure@example.test', groups: [] },
  doubtful: { preferred_username: 'doubtful', name: 'Doubtful', email: 'doubtful@example.test', groups: [] },
};

function claimsFor(id) {
  const known = ACCOUNTS[id];
  if (known) return { sub: `sub-${id}`, ...known };
  // Any other login: `<username>` or `<username>~<suffix>` (the same
  // preferred_username under distinct subjects, for clash tests).
  const username = id.split('~')[0];
  return {
    sub: `sub-${id}`,
    preferred_username: username,
    name: `User ${username}`,
    email: `${id.replace(/[^a-zA-Z0-9.-]/g, '-')}@example.test`,
    email_verified: true,
    groups: ['staff'],
  };
}

const server = http.createServer();
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: 'mxauth',
      client_secret: 'mxauth-secret',
      application_type: 'native',
      redirect_uris: ['http://127.0.0.1/_synapse/client/oidc/callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    scopes: ['openid', 'profile', 'email', 'groups'],
    // Claims go into the id_token itself, not only userinfo.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true, methods: ['S256'] },
    cookies: { keys: ['mxauth-test-provider-cookie-key'] },
    ttl: { Session: 600, Interaction: 600, Grant: 600, AuthorizationCode: 60, IdToken: 600, AccessToken: 600 },
    async findAccount(ctx, id) {
      return { accountId: id, async claims() { return claimsFor(id); } };
    },
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid profile email groups');
      grant.addOIDCClaims(['name', 'preferred_username', 'email', 'email_verified', 'groups']);
      await grant.save();
      return grant;
    },
  });
  provider.proxy = false;
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  // How often each path was asked for, at /__counts (mxauth's caching of
  // the discovery document and keys is tested with it).
  const counts = {};
  const handle = provider.callback();
  server.on('request', (req, res) => {
    const path = req.url.split('?')[0];
    if (path === '/__counts') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(counts));
      return;
    }
    counts[path] = (counts[path] || 0) + 1;
    handle(req, res);
  });
  console.log(`listening ${issuer}`);
});
