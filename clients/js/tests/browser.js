// A scripted browser for mxauth's OAuth pages: fetch with a cookie jar,
// redirects followed by hand, and on each HTML page the FIRST
// <form method="post"> submitted with its hidden inputs (csrf_token...) and
// the user's `username` / `password` filled in. It reads no wording, only
// the forms: the page contract is that every form is
// <form method="post" action="..."> with hidden inputs, the login form has
// inputs named `username` and `password`, and on the consent page the first
// form approves; the device grant's last page has no form. HTML is parsed by parse5, the WHATWG parser jsdom uses.
import { parse } from "parse5";

const MAX_STEPS = 20;

/** name=value cookies per host; every mxauth cookie is host-only, path `/`. */
class CookieJar {
  #byHost = new Map();

  store(url, response) {
    const host = new URL(url).host;
    const jar = this.#byHost.get(host) ?? new Map();
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => {
        const [k, v = ""] = a.split("=").map((s) => s.trim());
        if (k.toLowerCase() === "max-age") return Number(v) <= 0;
        if (k.toLowerCase() === "expires") return Date.parse(v) <= Date.now();
        return false;
      });
      if (expired) jar.delete(name);
      else jar.set(name, value);
    }
    this.#byHost.set(host, jar);
  }

  header(url) {
    const jar = this.#byHost.get(new URL(url).host);
    if (!jar || jar.size === 0) return undefined;
    return [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
  }
}

function* elements(node) {
  for (const child of node.childNodes ?? []) {
    if (child.tagName) yield child;
    // <template> content is not part of the form, as in a browser.
    yield* elements(child);
  }
}

const attr = (el, name) => el.attrs.find((a) => a.name === name)?.value;
const hasAttr = (el, name) => el.attrs.some((a) => a.name === name);
const text = (el) =>
  (el.childNodes ?? []).map((c) => (c.nodeName === "#text" ? c.value : text(c))).join("");

/**
 * The first <form method="post"> of `html` served at `pageUrl`, as a browser
 * would submit it with its first submit button: `{action, fields,
 * asksPassword}` (fields an array of [name, value]), or null.
 */
export function firstPostForm(html, pageUrl) {
  const doc = parse(html);
  const form = [...elements(doc)].find(
    (el) => el.tagName === "form" && (attr(el, "method") ?? "").toLowerCase() === "post",
  );
  if (!form) return null;
  const rawAction = (attr(form, "action") ?? "").trim();
  const action = rawAction === "" ? new URL(pageUrl) : new URL(rawAction, pageUrl);
  const fields = [];
  let asksPassword = false;
  let submitted = false;
  for (const el of elements(form)) {
    if (!["input", "button", "textarea", "select"].includes(el.tagName)) continue;
    if (hasAttr(el, "disabled")) continue;
    const type = attr(el, "type")?.toLowerCase();
    const isSubmit =
      (el.tagName === "input" && (type === "submit" || type === "image")) ||
      (el.tagName === "button" && (type === undefined || type === "submit"));
    if (isSubmit) {
      if (submitted) continue; // the first submit button is the one pressed
      submitted = true;
    }
    const name = attr(el, "name");
    if (!name) continue;
    const value = attr(el, "value") ?? "";
    if (el.tagName === "input") {
      const kind = type ?? "text";
      if (kind === "checkbox" || kind === "radio") {
        if (hasAttr(el, "checked")) fields.push([name, attr(el, "value") ?? "on"]);
      } else if (isSubmit) {
        fields.push([name, value]);
      } else if (!["button", "reset", "file"].includes(kind)) {
        if (kind === "password" || name === "password") asksPassword = true;
        fields.push([name, value]);
      }
    } else if (el.tagName === "button") {
      if (isSubmit) fields.push([name, value]);
    } else if (el.tagName === "textarea") {
      fields.push([name, text(el)]);
    } else if (el.tagName === "select") {
      const options = [...elements(el)].filter((o) => o.tagName === "option");
      const chosen = options.find((o) => hasAttr(o, "selected")) ?? options[0];
      if (chosen) fields.push([name, attr(chosen, "value") ?? text(chosen)]);
    }
  }
  return { action, fields, asksPassword };
}

/** The start of a body, on one line, for an error message. */
export function excerpt(body) {
  const flat = body.replace(/\s+/g, " ").trim();
  return flat.length > 400 ? `${flat.slice(0, 400)}...` : flat;
}

const sameEndpoint = (a, b) =>
  a.protocol === b.protocol && a.host === b.host && a.pathname === b.pathname;

/**
 * Opens `start` and walks redirects and forms until a redirect goes to
 * `redirectUri` (same scheme, host and port, path); returns that redirect's
 * target as a URL, without following it. `log(line)` gets each step.
 */
export async function walkToRedirect(start, redirectUri, credentials, log = () => {}) {
  return walk(start, new URL(redirectUri), credentials, log);
}

/**
 * Opens `start` (the device grant's verification link) and walks
 * redirects and forms until a page has no form left (the last page);
 * returns its HTML.
 */
export async function walkToLastPage(start, credentials, log = () => {}) {
  return walk(start, null, credentials, log);
}

async function walk(start, target, { username, password }, log) {
  const jar = new CookieJar();
  let method = "GET";
  let url = new URL(start);
  let body;
  let loginsPosted = 0;
  for (let i = 0; i < MAX_STEPS; i++) {
    const headers = { "user-agent": "mxauth openid-client test (scripted browser)" };
    const cookie = jar.header(url);
    if (cookie) headers.cookie = cookie;
    if (body) headers["content-type"] = "application/x-www-form-urlencoded";
    let response;
    try {
      response = await fetch(url, { method, headers, body, redirect: "manual" });
    } catch (e) {
      throw new Error(`${method} ${url}: ${e.cause?.message ?? e.message}`);
    }
    jar.store(url, response);
    if (response.status >= 300 && response.status < 400) {
      const location = response.headers.get("location");
      if (!location) throw new Error(`${method} ${url}: ${response.status} without a Location`);
      const next = new URL(location, url);
      log(`${method} ${url} -> ${response.status}, Location ${next}`);
      if (target && sameEndpoint(next, target)) return next;
      if (response.status !== 307 && response.status !== 308) {
        method = "GET";
        body = undefined;
      }
      url = next;
      continue;
    }
    const contentType = response.headers.get("content-type") ?? "";
    const html = await response.text();
    if (!response.ok) {
      throw new Error(`${method} ${url}: ${response.status} (${contentType}): ${excerpt(html)}`);
    }
    if (!contentType.startsWith("text/html")) {
      throw new Error(`${method} ${url}: ${response.status} with ${contentType}, not an HTML page: ${excerpt(html)}`);
    }
    const form = firstPostForm(html, url);
    if (!form && !target) return html;
    if (!form) throw new Error(`${method} ${url}: a page with no <form method="post">: ${excerpt(html)}`);
    if (form.asksPassword && ++loginsPosted > 1) {
      throw new Error(
        `${method} ${url}: the login form came back after the password was posted ` +
          `(wrong credentials, or a lost browser session?): ${excerpt(html)}`,
      );
    }
    const fields = form.fields.map(([name, value]) =>
      name === "username" ? [name, username] : name === "password" ? [name, password] : [name, value],
    );
    log(`${method} ${url} -> ${response.status} page; posting its first form to ${form.action} with ${JSON.stringify(fields.map(([n]) => n))}`);
    method = "POST";
    url = form.action;
    body = new URLSearchParams(fields).toString();
  }
  throw new Error(`no end (${target ?? "a page without a form"}) after ${MAX_STEPS} pages and redirects`);
}
