// A front end's first steps on T21, typed with the types generated from /openapi.json:
// register (or sign in), create a brand, connect a Bluesky account (the sandbox accepts any
// handle with a well-formed app password) and create a scheduled post.
// CI type-checks this file against a fresh /openapi.json, then runs it against a live T21:
//   node generated/dist/sample.js http://127.0.0.1:8000
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/t21.js";

type Post = components["schemas"]["PostOut"];
type Problem = components["schemas"]["Problem"];
type ProblemDetail = components["schemas"]["ProblemDetail"];

function explain(problem: Problem, entries: ProblemDetail[] = problem.errors ?? []): string {
  const lines = entries.map(
    (entry) => `  ${entry.loc.join(".")}: ${entry.msg}${entry.rule ? ` [${entry.rule}]` : ""}`,
  );
  return [`${problem.code}: ${problem.detail} (request ${problem.request_id ?? "?"})`, ...lines].join("\n");
}

export async function firstPost(baseUrl: string): Promise<Post> {
  const api = createClient<paths>({ baseUrl });
  const email = `ada-${Date.now()}@example.com`;
  const password = "correct horse 42";

  const registered = await api.POST("/api/v1/auth/register", {
    body: { email, password, name: "Ada" },
  });
  if (registered.error) throw new Error(explain(registered.error));
  const signedIn = await api.POST("/api/v1/auth/login", { body: { email, password } });
  if (signedIn.error) throw new Error(explain(signedIn.error));
  // With two-factor sign-in on, the answer is a challenge for POST /api/v1/auth/2fa/verify.
  if (!("access_token" in signedIn.data)) throw new Error("this account needs its second factor");
  const headers = { Authorization: `Bearer ${signedIn.data.access_token}` };

  const brand = await api.POST("/api/v1/brands", {
    params: { header: { "Idempotency-Key": crypto.randomUUID() } },
    body: { name: "Ada's Bakery", timezone: "Europe/London", keywords: ["sourdough"] },
    headers,
  });
  if (brand.error) throw new Error(explain(brand.error));

  const connected = await api.POST("/api/v1/social-accounts/connect", {
    body: {
      brand_id: brand.data.id,
      platform: "bluesky",
      credentials: { handle: "ada.bsky.social", app_password: "abcd-efgh-ijkl-mnop" },
    },
    headers,
  });
  if (connected.error) throw new Error(explain(connected.error));
  if (!("items" in connected.data)) {
    throw new Error(`Bluesky asked for a redirect: ${connected.data.authorization_url}`);
  }
  const account = connected.data.items[0];
  if (account === undefined) throw new Error("no account was connected");

  const tomorrow = new Date(Date.now() + 24 * 3600 * 1000).toISOString();
  const created = await api.POST("/api/v1/posts", {
    params: { header: { "Idempotency-Key": crypto.randomUUID() } },
    body: {
      brand_id: brand.data.id,
      content: "Fresh sourdough out of the oven at 8 — come early!",
      targets: [{ social_account_id: account.id }],
      scheduled_at: tomorrow,
    },
    headers,
  });
  if (created.error) {
    // A 422 names each target's broken rule; a 402 names the plan limit; a 409 the targets.
    throw new Error(explain(created.error));
  }
  const remaining = created.response.headers.get("RateLimit-Remaining");
  console.log(`post ${created.data.id} is ${created.data.status}; ${remaining} requests left`);
  return created.data;
}

const baseUrl = process.argv[2];
if (baseUrl !== undefined) {
  firstPost(baseUrl).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
