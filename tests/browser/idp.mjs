// A real OpenID Connect provider for the console's sign-in test: node-oidc-provider (a
// certified OpenID Provider implementation) on loopback, with one confidential client
// and its development login page, where any password is accepted for these accounts:
// olivia (accord-operators), vera (accord-viewers), mallory (no console group) and ada
// (accord-admins, and also the name of a local operator). ID tokens are RS256, signed by a
// key made at start; the groups travel in the ID token's `groups` claim.
// Usage: node idp.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
import Provider from "oidc-provider";
import { generateKeyPairSync } from "node:crypto";

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
if (!port || !clientId || !clientSecret || !redirectUri) {
  console.error("usage: node idp.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI");
  process.exit(2);
}

const groups = {
  olivia: ["accord-operators", "staff"],
  vera: ["accord-viewers"],
  mallory: ["staff"],
  ada: ["accord-admins"],
};

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: "jwk" }), kid: "idp-key-1", use: "sig", alg: "RS256" };

const provider = new Provider(`http://localhost:${port}`, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: ["accord-test-idp-cookie-key"] },
  claims: { openid: ["sub"], profile: ["preferred_username", "name"], groups: ["groups"] },
  // The groups go in the ID token itself, as Entra ID and Keycloak put roles there.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: id, groups: groups[id] ?? [] };
      },
    };
  },
});
provider.on("server_error", (ctx, err) => console.error("idp server_error", err));
provider.listen(Number(port), "127.0.0.1", () => console.log(`idp listening on ${port}`));
