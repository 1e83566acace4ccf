/* The Kisum console's passkey ceremonies (decision 0039). Served from /console/assets under the
 * console's Content-Security-Policy: no inline script, no eval, requests to this origin only.
 *
 * A passkey form carries data-passkey="create" (registration) or "get" (sign-in,
 * second factor, reauthentication) and data-start, the console route answering the API's
 * {ceremony_id, options}. On submit this script posts the form's fields (its CSRF token, an
 * mfa_token) to data-start, converts the options' base64url values to bytes, asks the browser
 * (navigator.credentials), writes the ceremony id and the authenticator's answer (JSON,
 * base64url) into the form's hidden fields and submits it: the server finishes the ceremony
 * through the API's own handler. Buttons stay hidden until this script runs; without it the
 * pages' <noscript> says passkeys need JavaScript. */
(function () {
  "use strict";

  function toBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    if (!buffer) { return null; }
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i += 1) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function credentialIds(list) {
    (list || []).forEach(function (c) { c.id = toBytes(c.id); });
  }

  function creationOptions(pk) {
    pk.challenge = toBytes(pk.challenge);
    pk.user.id = toBytes(pk.user.id);
    credentialIds(pk.excludeCredentials);
    return { publicKey: pk };
  }

  function requestOptions(pk) {
    pk.challenge = toBytes(pk.challenge);
    credentialIds(pk.allowCredentials);
    return { publicKey: pk };
  }

  function registration(c) {
    return {
      id: c.id,
      rawId: toText(c.rawId),
      type: c.type,
      response: {
        attestationObject: toText(c.response.attestationObject),
        clientDataJSON: toText(c.response.clientDataJSON)
      },
      extensions: {}
    };
  }

  function assertion(c) {
    return {
      id: c.id,
      rawId: toText(c.rawId),
      type: c.type,
      response: {
        authenticatorData: toText(c.response.authenticatorData),
        clientDataJSON: toText(c.response.clientDataJSON),
        signature: toText(c.response.signature),
        userHandle: toText(c.response.userHandle)
      },
      extensions: {}
    };
  }

  function say(form, text) {
    var status = form.querySelector("[data-passkey-status]");
    if (status) { status.textContent = text; }
  }

  /* The server's refusal as a sentence: its problem document, else its status. */
  function refusal(answer, body) {
    if (body && (body.detail || body.title)) {
      return (body.detail || body.title) + " (" + (body.code || answer.status) + ")";
    }
    return "The server refused (status " + answer.status + "): reload the page and try again.";
  }

  async function ceremony(form) {
    var button = form.querySelector("button[type=submit]");
    if (button) { button.disabled = true; }
    say(form, "Waiting for your passkey…");
    try {
      var fields = new URLSearchParams();
      new FormData(form).forEach(function (value, name) {
        if (name !== "ceremony_id" && name !== "credential") { fields.append(name, value); }
      });
      var answer = await fetch(form.dataset.start, {
        method: "POST",
        body: fields,
        credentials: "same-origin",
        headers: { "Accept": "application/json" }
      });
      var begun = null;
      try { begun = await answer.json(); } catch (ignored) { begun = null; }
      if (!answer.ok || !begun || !begun.options) {
        throw new Error(refusal(answer, begun));
      }
      var pk = begun.options.publicKey;
      var answerJson;
      if (form.dataset.passkey === "create") {
        answerJson = registration(await navigator.credentials.create(creationOptions(pk)));
      } else {
        answerJson = assertion(await navigator.credentials.get(requestOptions(pk)));
      }
      form.elements.ceremony_id.value = begun.ceremony_id;
      form.elements.credential.value = JSON.stringify(answerJson);
      say(form, "Checking…");
      HTMLFormElement.prototype.submit.call(form);
    } catch (e) {
      var text = e && e.name === "NotAllowedError"
        ? "The passkey was not used (cancelled or timed out). Try again, or use another way."
        : (e && e.message) || String(e);
      say(form, text);
      if (button) { button.disabled = false; }
    }
  }

  /* Shows the passkey buttons where the browser offers passkeys. */
  function reveal() {
    var able = !!(window.PublicKeyCredential && navigator.credentials);
    document.querySelectorAll("form[data-passkey]").forEach(function (form) {
      var button = form.querySelector("[data-passkey-button]");
      if (able) {
        if (button) { button.hidden = false; }
      } else {
        say(form, "This browser does not offer passkeys: use another way in.");
      }
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.passkey) { return; }
    event.preventDefault();
    event.stopPropagation();
    ceremony(form);
  }, true);
  document.addEventListener("DOMContentLoaded", reveal);
  /* Boosted navigations swap the body: reveal the new page's buttons too. */
  document.addEventListener("htmx:afterSettle", reveal);
  if (document.readyState !== "loading") { reveal(); }
}());
