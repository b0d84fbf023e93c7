// T21's development pages: each finishes the flow its link starts, with the public API calls a
// real front end makes (README, "Front-end routes"). Plain script, no build step.
"use strict";

const TOKEN_KEY = "t21.dev.access_token";
const page = document.getElementById("page");
const statusLine = document.getElementById("status");
const content = document.getElementById("content");
const query = new URLSearchParams(window.location.search);

function say(text, kind) {
  statusLine.textContent = text;
  statusLine.className = kind || "";
}

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

function field(label, attributes) {
  return el("label", {}, label, el("input", attributes));
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = window.localStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  const options = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch("/api/v1" + path, options);
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  return { ok: response.ok, status: response.status, data };
}

function problem(result) {
  const body = result.data || {};
  const entries = (body.errors || []).map((entry) => entry.msg).filter(Boolean);
  const detail = body.detail || body.title || "The API answered " + result.status + ".";
  return entries.length ? detail + " " + entries.join(" ") : detail;
}

function details(object, names) {
  const list = el("dl", { class: "details" });
  for (const name of names) {
    let value = object[name];
    if (value === null || value === undefined) value = "—";
    else if (typeof value === "object") value = JSON.stringify(value);
    list.append(el("dt", {}, name), el("dd", { "data-field": name }, String(value)));
  }
  return list;
}

// Signed in (a token this browser keeps), or a sign-in form; resolves to GET /auth/me.
async function signedIn() {
  if (window.localStorage.getItem(TOKEN_KEY)) {
    const me = await api("GET", "/auth/me");
    if (me.ok) return me.data;
    window.localStorage.removeItem(TOKEN_KEY);
  }
  say("Sign in to continue.");
  return new Promise((resolve) => {
    const form = el(
      "form",
      { id: "sign-in" },
      field("Email", { type: "email", name: "email", required: "", autocomplete: "username" }),
      field("Password", {
        type: "password", name: "password", required: "", autocomplete: "current-password",
      }),
      el("button", { type: "submit" }, "Sign in"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const signIn = await api("POST", "/auth/login", {
        email: form.elements.email.value,
        password: form.elements.password.value,
      });
      if (!signIn.ok) return say(problem(signIn), "error");
      form.remove();
      const tokens = signIn.data.two_factor_required
        ? await secondFactor(signIn.data.challenge)
        : signIn.data;
      window.localStorage.setItem(TOKEN_KEY, tokens.access_token);
      const me = await api("GET", "/auth/me");
      if (!me.ok) return say(problem(me), "error");
      resolve(me.data);
    });
    content.append(form);
  });
}

// The second step of a sign-in with two factors on: a code from the authenticator app (or a
// recovery code) for the challenge; resolves to the token body of POST /auth/2fa/verify.
function secondFactor(challenge) {
  say("Enter the 6-digit code from your authenticator app, or a recovery code.");
  return new Promise((resolve) => {
    const form = el(
      "form",
      { id: "two-factor" },
      field("Code", {
        type: "text", name: "code", required: "", autocomplete: "one-time-code",
        inputmode: "text", spellcheck: "false",
      }),
      el("button", { type: "submit" }, "Verify"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const entered = form.elements.code.value.trim();
      const body = /^\d{6}$/.test(entered.replace(/\s/g, ""))
        ? { challenge, code: entered.replace(/\s/g, "") }
        : { challenge, recovery_code: entered };
      const verified = await api("POST", "/auth/2fa/verify", body);
      if (!verified.ok) return say(problem(verified), "error");
      form.remove();
      resolve(verified.data);
    });
    content.append(form);
  });
}

function showAccounts(accounts) {
  const names = ["id", "platform", "username", "display_name", "status", "brand_id"];
  for (const account of accounts) content.append(details(account, names));
}

function pathId() {
  return window.location.pathname.split("/").filter(Boolean).pop();
}

async function showObject(path, names) {
  await signedIn();
  const found = await api("GET", path + pathId());
  if (!found.ok) return say(problem(found), "error");
  say("Here it is.", "ok");
  content.append(details(found.data, names));
}

const flows = {
  async "verify-email"() {
    const token = query.get("token");
    if (!token) return say("This link has no token.", "error");
    say("Verifying your address…");
    const verified = await api("POST", "/auth/verify-email", { token });
    if (!verified.ok) return say(problem(verified), "error");
    say("Your email address " + verified.data.email + " is verified.", "ok");
  },

  async "reset-password"() {
    const token = query.get("token");
    if (!token) return say("This link has no token.", "error");
    say("Choose a new password (8 to 128 characters).");
    const form = el(
      "form",
      { id: "reset" },
      field("New password", {
        type: "password", name: "password", required: "", autocomplete: "new-password",
      }),
      el("button", { type: "submit" }, "Set the new password"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const reset = await api("POST", "/auth/reset-password", {
        token,
        password: form.elements.password.value,
      });
      if (!reset.ok) return say(problem(reset), "error");
      form.remove();
      window.localStorage.removeItem(TOKEN_KEY);
      say(reset.data.message, "ok");
    });
    content.append(form);
  },

  async "accept-invitation"() {
    const token = query.get("token");
    if (!token) return say("This link has no token.", "error");
    const me = await signedIn();
    say("Signed in as " + me.email + ".");
    const button = el("button", { type: "button", id: "accept" }, "Accept the invitation");
    button.addEventListener("click", async () => {
      const accepted = await api("POST", "/invitations/accept", { token });
      if (!accepted.ok) return say(problem(accepted), "error");
      button.remove();
      say("You joined " + accepted.data.organization.name + " as " + accepted.data.role + ".", "ok");
    });
    content.append(button);
  },

  async home() {
    window.history.replaceState(null, "", window.location.pathname);
    const error = query.get("error");
    if (error) return say("The flow did not finish: " + error + ".", "error");
    const loginCode = query.get("login_code");
    if (loginCode) {
      const exchanged = await api("POST", "/auth/oauth/exchange", { login_code: loginCode });
      if (!exchanged.ok) return say(problem(exchanged), "error");
      window.localStorage.setItem(TOKEN_KEY, exchanged.data.access_token);
      return say("Signed in as " + exchanged.data.user.email + ".", "ok");
    }
    const connectCode = query.get("connect_code");
    if (connectCode) {
      await signedIn();
      const done = await api("POST", "/social-accounts/connect/complete", { code: connectCode });
      if (!done.ok) return say(problem(done), "error");
      say("Connected " + done.data.items.length + " account(s).", "ok");
      return showAccounts(done.data.items);
    }
    const connected = query.get("connected");
    if (connected) {
      await signedIn();
      const accounts = [];
      for (const id of connected.split(",")) {
        const found = await api("GET", "/social-accounts/" + encodeURIComponent(id));
        if (!found.ok) return say(problem(found), "error");
        accounts.push(found.data);
      }
      say("Connected " + accounts.length + " account(s).", "ok");
      return showAccounts(accounts);
    }
    const me = window.localStorage.getItem(TOKEN_KEY) ? await api("GET", "/auth/me") : null;
    say(me && me.ok ? "Signed in as " + me.data.email + "." : "Not signed in.");
    const links = el("ul", {});
    for (const provider of ["google", "github"]) {
      links.append(el("li", {}, el("a", { href: "/api/v1/auth/oauth/" + provider },
        "Sign in with " + provider)));
    }
    links.append(el("li", {}, el("a", { href: "/docs" }, "The API's documentation")));
    content.append(links);
  },

  async billing() {
    if (query.get("checkout") === "cancelled") {
      return say("Checkout cancelled: nothing was charged.");
    }
    const me = await signedIn();
    const owned = me.memberships.filter((membership) => membership.role === "owner");
    const waitForPayment = query.get("checkout") === "success";
    say(waitForPayment ? "Payment received; waiting for the subscription…" : "Your plans.");
    const table = el("table", { id: "subscriptions" },
      el("tr", {}, el("th", {}, "Organization"), el("th", {}, "Tier"), el("th", {}, "Status")));
    content.append(table);
    const rows = [];
    for (let attempt = 0; attempt < 30; attempt += 1) {
      rows.length = 0;
      for (const membership of owned) {
        const organization = membership.organization;
        const current = await api("GET", "/subscriptions/current?organization_id=" +
          encodeURIComponent(organization.id));
        if (!current.ok) return say(problem(current), "error");
        rows.push([organization.name, current.data.tier, current.data.status]);
      }
      if (!waitForPayment || rows.some((row) => row[1] !== "free")) break;
      await new Promise((resolve) => window.setTimeout(resolve, 500));
    }
    for (const row of rows) {
      table.append(el("tr", { class: "subscription" }, ...row.map((cell) => el("td", {}, cell))));
    }
    const paid = rows.some((row) => row[1] !== "free");
    if (waitForPayment) {
      say(paid ? "Your subscription is active." : "No paid plan yet; reload in a moment.",
        paid ? "ok" : "error");
    }
  },

  "social-account": () => showObject("/social-accounts/",
    ["id", "platform", "username", "status", "last_error", "token_expires_at"]),
  post: () => showObject("/posts/",
    ["id", "status", "content", "scheduled_at", "published_at"]),
  webhook: () => showObject("/webhooks/", ["id", "url", "status", "events"]),
};

const flow = flows[page.dataset.flow];
flow().catch((error) => say("Something went wrong: " + error, "error"));
