// Passkeys on /signin and /account: the pages' only script, since a WebAuthn ceremony needs the
// browser's API. It fetches the ceremony's options, asks the browser for the credential, and
// submits it with the page's own form (and its anti-forgery token); the server decides the rest.
"use strict";

(function () {
  // Shows why the ceremony stopped; `next`, when the server names one, is where to go on
  // (a fresh sign-in, for a change that needs one).
  function fail(form, text, next) {
    const box = form.querySelector("#passkey-error");
    box.textContent = text;
    if (next) {
      const link = document.createElement("a");
      link.href = next;
      link.id = "passkey-next";
      link.textContent = "Sign in again";
      box.append(" ", link);
    }
    box.hidden = false;
  }

  function supported() {
    return window.PublicKeyCredential &&
      typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function" &&
      typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function";
  }

  async function ceremony(form, url, headers) {
    const answer = await fetch(url, { method: "POST", headers: headers, credentials: "same-origin" });
    const body = await answer.json().catch(() => ({}));
    if (!answer.ok) {
      const refused = new Error(body.detail || "The server refused to start: try again.");
      refused.next = /^\/[^/]/.test(body.next || "") ? body.next : null;
      throw refused;
    }
    return body;
  }

  function submit(form, started, credential) {
    form.elements.ceremony_id.value = started.ceremony_id;
    form.elements.credential.value = JSON.stringify(credential.toJSON());
    form.submit();
  }

  function cancelled(error) {
    return error && (error.name === "NotAllowedError" || error.name === "AbortError");
  }

  const signIn = document.getElementById("passkey-sign-in");
  if (signIn) {
    signIn.addEventListener("click", async () => {
      const form = signIn.form;
      if (!supported()) return fail(form, "This browser cannot use passkeys here.");
      try {
        const started = await ceremony(form, "/api/v1/auth/login/passkey/options", {});
        const options = PublicKeyCredential.parseRequestOptionsFromJSON(started.publicKey);
        const credential = await navigator.credentials.get({ publicKey: options });
        submit(form, started, credential);
      } catch (error) {
        fail(form, cancelled(error) ? "No passkey was used." : error.message);
      }
    });
  }

  const second = document.getElementById("passkey-second");
  if (second) {
    second.addEventListener("click", async () => {
      const form = second.form;
      if (!supported()) return fail(form, "This browser cannot use passkeys here.");
      try {
        const answer = await fetch("/api/v1/auth/login/mfa/passkey/options", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ mfa_token: form.elements.mfa_token.value }),
        });
        const started = await answer.json().catch(() => ({}));
        if (!answer.ok) throw new Error(started.detail || "The server refused to start: try again.");
        const options = PublicKeyCredential.parseRequestOptionsFromJSON(started.publicKey);
        const credential = await navigator.credentials.get({ publicKey: options });
        submit(form, started, credential);
      } catch (error) {
        fail(form, cancelled(error) ? "No passkey was used." : error.message);
      }
    });
  }

  const add = document.getElementById("passkey-add");
  if (add) {
    add.addEventListener("click", async () => {
      const form = add.form;
      if (!supported()) return fail(form, "This browser cannot make passkeys here.");
      if (!form.reportValidity()) return;
      try {
        const started = await ceremony(form, "/account/passkey-options",
          { "x-adam-csrf": form.elements.csrf.value });
        const options = PublicKeyCredential.parseCreationOptionsFromJSON(started.publicKey);
        const credential = await navigator.credentials.create({ publicKey: options });
        submit(form, started, credential);
      } catch (error) {
        fail(form, cancelled(error) ? "No passkey was made." : error.message, error.next);
      }
    });
  }
})();
