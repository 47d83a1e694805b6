// A backend that manages its users with Auth0's own Node SDK, as one
// migrating from Auth0 does: only the domain and the credentials point at
// claimgate. integration/auth0sdk_test.go runs it against a real Caddy and
// checks what it prints (one JSON object) and what the user then gets.
//
//   node migrate.mjs create EMAIL PASSWORD ORG_ID  -> the SDK's answers
//   node migrate.mjs password USER_ID PASSWORD     -> {"ok":true}
//
// Environment: CLAIMGATE_DOMAIN (host:port, https), CLAIMGATE_CLIENT_ID,
// CLAIMGATE_CLIENT_SECRET, CLAIMGATE_CONNECTION; NODE_EXTRA_CA_CERTS names
// Caddy's local CA (tls internal).
import { ManagementClient } from "auth0";

const management = new ManagementClient({
  domain: process.env.CLAIMGATE_DOMAIN,
  clientId: process.env.CLAIMGATE_CLIENT_ID,
  clientSecret: process.env.CLAIMGATE_CLIENT_SECRET,
});
const connection = process.env.CLAIMGATE_CONNECTION;

async function create(email, password, orgId) {
  const created = await management.users.create({
    connection,
    email,
    password,
    email_verified: true,
    user_metadata: { city: "Québec", province: "QC" },
  });
  const id = created.user_id;
  const read = await management.users.get(id);
  const byEmail = await management.users.listUsersByEmail({ email });
  // Two patches: app_metadata is merged at its first level.
  await management.users.update(id, { app_metadata: { plan: "pro", org_id: orgId } });
  await management.users.update(id, { app_metadata: { tier: "gold" }, user_metadata: { province: null } });
  const merged = await management.users.get(id);
  await management.users.roles.assign(id, { roles: ["editor", "viewer"] });
  const roles = [];
  for await (const role of await management.users.roles.list(id)) {
    roles.push(role);
  }
  await management.organizations.members.create(orgId, { members: [id] });
  return { created, read, byEmail, merged, roles };
}

async function changePassword(id, password) {
  await management.users.update(id, { password });
  return { ok: true };
}

const [step, ...args] = process.argv.slice(2);
try {
  const out = step === "create" ? await create(...args) : await changePassword(...args);
  process.stdout.write(JSON.stringify(out) + "\n");
} catch (err) {
  process.stderr.write(`${err?.constructor?.name}: ${err?.message}\n${JSON.stringify(err?.body ?? null)}\n`);
  process.exit(1);
}
