// The playground's stream: partial images as they arrive (accounts/playground.py, playground_stream).
// Used when the chosen model's provider streams and the browser can read a response body as it comes;
// otherwise, and whenever the stream cannot start, the form is submitted the plain way.
(function () {
  "use strict";
  var form = document.getElementById("playground-form");
  var preview = document.getElementById("stream-preview");
  var configNode = document.getElementById("playground-stream-config");
  if (!form || !preview || !configNode || !window.fetch || !window.TextDecoder || !window.ReadableStream) return;
  var config = JSON.parse(configNode.textContent);
  var statusLine = preview.querySelector("[data-stream=status]");
  var pictures = preview.querySelector("[data-stream=images]");

  function wanted() {
    var model = form.elements.model;
    var background = form.elements.run_async;
    return !!model && config.models.indexOf(model.value) !== -1 && !(background && background.checked);
  }

  function plainSubmit() {
    preview.hidden = true;
    HTMLFormElement.prototype.submit.call(form); // no submit event: this listener does not run again
  }

  function openGeneration(generationId) {
    window.location.assign(config.detail_url.replace("GENERATION_ID", encodeURIComponent(generationId)));
  }

  function showImage(kind, data) {
    var image = document.createElement("img");
    image.src = "data:image/" + (data.output_format || "png") + ";base64," + data.b64_json;
    image.alt = kind === "partial" ? config.text.partial : config.text.final;
    image.dataset.kind = kind;
    if (kind === "partial") {
      pictures.replaceChildren(image); // each partial is a sharper version of the last
      statusLine.textContent = config.text.partial;
    } else {
      var partial = pictures.querySelector("img[data-kind=partial]");
      if (partial) partial.remove();
      pictures.appendChild(image);
      statusLine.textContent = config.text.final;
    }
  }

  function handle(block) {
    var name = "message";
    var data = [];
    block.split("\n").forEach(function (line) {
      if (!line || line.charAt(0) === ":") return; // a keep-alive comment
      var colon = line.indexOf(":");
      var field = colon === -1 ? line : line.slice(0, colon);
      var value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    });
    if (!data.length) return;
    var payload = JSON.parse(data.join("\n"));
    if (/\.partial_image$/.test(name)) showImage("partial", payload);
    else if (/\.completed$/.test(name)) showImage("final", payload);
    else if (name === "error") {
      preview.dataset.state = "failed";
      statusLine.textContent = (payload.error && payload.error.message) || config.text.failed;
    }
  }

  function read(reader, generationId) {
    var decoder = new TextDecoder();
    var buffer = "";
    function next() {
      return reader.read().then(function (chunk) {
        if (chunk.done) {
          openGeneration(generationId);
          return;
        }
        buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, "\n");
        var end;
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          handle(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
        return next();
      });
    }
    return next();
  }

  form.addEventListener("submit", function (event) {
    if (!wanted()) return;
    event.preventDefault();
    preview.hidden = false;
    preview.dataset.state = "running";
    pictures.replaceChildren();
    statusLine.textContent = config.text.waiting;
    var generationId = null;
    fetch(config.stream_url, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { Accept: "text/event-stream" },
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        generationId = response.headers.get("x-gih-generation-id");
        if (!response.ok || type.indexOf("text/event-stream") !== 0 || !generationId || !response.body) {
          // Nothing was charged: the plain form explains the error (or runs it without the stream).
          plainSubmit();
          return;
        }
        return read(response.body.getReader(), generationId);
      })
      .catch(function () {
        // Cut mid-stream: the generation goes on; its page shows how it ends. Before any answer: the plain
        // form, whose idempotency key replays the same generation if it was already charged.
        if (generationId) openGeneration(generationId);
        else plainSubmit();
      });
  });
})();
