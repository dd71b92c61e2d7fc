// A real OpenID Connect provider for the single sign-on tests (tests/oidc/test_oidc_login.py): the npm
// package oidc-provider on the loopback, with one registered client and a few fictional staff accounts.
// Its development login form takes the account id as the login (any password) and asks for consent.
//
//   OIDC_PORT=… OIDC_CLIENT_ID=… OIDC_CLIENT_SECRET=… OIDC_REDIRECT_URI=… OIDC_POST_LOGOUT_URI=… \
//     node tests/oidc/provider.mjs
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const env = process.env;

// The suite on a later date (tests/clock_ahead.py): the provider's clock moves as far ahead as the test
// process's, so its cookies, tokens and sessions are dated in the same time as the tests read them.
const clockOffset = Number(env.ASSISTFLOW_TEST_CLOCK_OFFSET_MS || 0);
if (clockOffset) {
  const RealDate = Date;
  globalThis.Date = class extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + clockOffset);
      else super(...args);
    }

    static now() {
      return RealDate.now() + clockOffset;
    }
  };
}
const port = Number(env.OIDC_PORT || 0);

// Fictional accounts: the provider's own unit codes and group names, mapped by the test's claim rules.
const ACCOUNTS = {
  'sso-officer-1': {
    preferred_username: 'sso_officer',
    name: '统一认证测试专员',
    org_unit: 'SH-PT-CHZ',
    roles: ['jiuzhu-zhuanyuan', 'oa-user'],
  },
  'sso-advisor-1': {
    preferred_username: 'sso_advisor',
    name: '统一认证测试顾问',
    org_unit: 'SH-PT-CHZ',
    roles: ['shequ-guwen'],
  },
  'sso-nounit-1': {
    preferred_username: 'sso_nounit',
    name: '统一认证未知单位',
    org_unit: 'SH-XX-999',
    roles: ['jiuzhu-zhuanyuan'],
  },
  'sso-norole-1': {
    preferred_username: 'sso_norole',
    name: '统一认证未知角色',
    org_unit: 'SH-PT-CHZ',
    roles: ['caiwu-zongjian'],
  },
};

const configuration = {
  clients: [
    {
      client_id: env.OIDC_CLIENT_ID,
      client_secret: env.OIDC_CLIENT_SECRET,
      redirect_uris: [env.OIDC_REDIRECT_URI],
      post_logout_redirect_uris: [env.OIDC_POST_LOGOUT_URI],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    assistflow: ['org_unit', 'roles'],
  },
  cookies: { keys: ['assistflow-test-provider-cookie-key'] },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  async findAccount(ctx, id) {
    const claims = ACCOUNTS[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
};

// Listen first (port 0 picks a free one), then make the provider for the issuer URL with that port.
const listener = createServer();
listener.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${listener.address().port}`;
  const provider = new Provider(issuer, configuration);
  provider.on('server_error', (_ctx, err) => console.error('server_error', err));
  listener.on('request', provider.callback());
  console.log(`READY ${issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => listener.close(() => process.exit(0)));
}
