/* Emo7ion project page: upload with a real progress bar. Plain JavaScript, no CDN.
   Live analysis progress is progress.js (the one poller); charts are emo7ion-charts.js. */
(function () {
  "use strict";

  function pct(p) { return Math.round(Math.max(0, Math.min(1, p)) * 100); }

  function sizeText(bytes) {  // the units Django's filesizeformat uses (1 KB = 1024 bytes)
    var units = ["bytes", "KB", "MB", "GB", "TB"], i = 0;
    while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i += 1; }
    return (i ? bytes.toFixed(1) : String(bytes)) + (i ? "\u00a0" : " ") + units[i];
  }

  // --- Upload with XHR so the bar shows bytes actually sent (fetch has no upload progress).
  var form = document.getElementById("upload-form");
  var box = document.getElementById("upload-progress");
  if (form && box && window.FormData && window.XMLHttpRequest) {
    form.addEventListener("submit", function (ev) {
      var input = form.querySelector("input[type=file]");
      if (!input || !input.files.length) { return; }  // let the server say what is missing
      ev.preventDefault();
      var bar = box.querySelector(".progress > span");
      var meter = box.querySelector(".progress");
      var text = box.querySelector(".js-upload-text");
      var button = form.querySelector("button");
      box.hidden = false;
      // Say no before sending gigabytes the server would refuse (it checks again on arrival).
      var limit = Number(form.getAttribute("data-max-bytes") || 0);
      var file = input.files[0];
      if (limit && file.size > limit) {
        text.textContent = file.name + " is " + sizeText(file.size) + "; the largest file this site accepts is " +
          sizeText(limit) + ". Nothing was uploaded.";
        text.className = "errorlist js-upload-text";
        return;
      }
      text.className = "muted js-upload-text";
      button.disabled = true;
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) { return; }
        var p = pct(e.loaded / e.total);
        bar.style.width = p + "%"; meter.setAttribute("aria-valuenow", p);
        text.textContent = p < 100 ? "Uploading… " + p + "%" : "Uploaded; checking the file…";
      });
      xhr.addEventListener("load", function () {
        var data = {};
        try { data = JSON.parse(xhr.responseText); } catch (e) { /* not JSON: a server error page */ }
        if (xhr.status === 201) {
          text.textContent = "Ready: " + data.name;
        } else {
          text.textContent = data.rejection_reason || data.error || ("Upload failed (HTTP " + xhr.status + ")");
          text.className = "errorlist js-upload-text";
        }
        // The footage table is rendered by the server: reload to show the new row and its status.
        setTimeout(function () { window.location.reload(); }, xhr.status === 201 ? 300 : 2500);
      });
      xhr.addEventListener("error", function () {
        text.textContent = "The connection failed during the upload; please try again.";
        text.className = "errorlist js-upload-text"; button.disabled = false;
      });
      xhr.send(new FormData(form));
    });
  }
})();
