/* Score a photo: send it (or its URL) to /api/v1/images/, draw the annotated, face-blurred image the
 * worker returns and the crowd's shares; "Save as footage" uploads the same file to the project. */
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("photo-data").textContent);
  const $ = (id) => document.getElementById(id);
  const csrf = document.querySelector("input[name=csrfmiddlewaretoken]").value;
  const headers = { "X-CSRFToken": csrf, "X-Requested-With": "XMLHttpRequest", "Accept": "application/json" };

  function show(answer) {
    $("photo-result").hidden = false;
    $("photo-annotated").src = answer.annotated_image;
    $("photo-faces").textContent = answer.face_count;
    Plotly.react("photo-chart", [{
      type: "bar", x: data.labels, y: data.labels.map((label) => answer.emotion_shares[label] || 0),
      marker: { color: data.colours },
    }], { margin: { t: 10, r: 10, b: 40, l: 45 }, height: 260, yaxis: { range: [0, 1], title: { text: "share" } } },
    { responsive: true, displaylogo: false });
    const rows = answer.faces.map((face, i) => "<tr><td>" + (i + 1) + "</td><td>" + face.emotion + "</td><td>" +
      Math.round(face.probabilities[face.emotion] * 100) + "%</td></tr>");
    $("photo-table").querySelector("tbody").innerHTML = rows.join("");
  }

  $("photo-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("photo-error").textContent = "";
    const body = new FormData();
    const file = $("photo-file").files[0];
    if (file) body.append("file", file); else body.append("url", $("photo-url").value.trim());
    body.append("annotated", "true");
    $("photo-score").disabled = true;
    fetch(data.score_url, { method: "POST", body: body, headers: headers, credentials: "same-origin" })
      .then((answer) => answer.json().then((json) => ({ ok: answer.ok, json: json })))
      .then(({ ok, json }) => {
        if (!ok) {
          $("photo-error").textContent = json.detail || Object.values(json).flat().join(" ");
          return;
        }
        show(json);
        $("photo-save").hidden = !file;
      })
      .finally(() => { $("photo-score").disabled = false; });
  });

  $("photo-save").addEventListener("click", () => {
    const body = new FormData();
    body.append("file", $("photo-file").files[0]);
    fetch(data.save_url, { method: "POST", body: body, headers: headers, credentials: "same-origin" })
      .then((answer) => answer.json())
      .then((json) => {
        $("photo-error").textContent = json.status === "ready" ? "" : (json.rejection_reason || json.error || "");
        if (json.status === "ready") window.location = json.project_url;
      });
  });
})();
