// SVFR warnings on the page: each node run's notices (the UI output "svfr_notices": inpainting without a
// mask, a face lost for many frames, colour match skipped, a preset slow on this card) as a warning toast.
// The node also shows them as its progress text (sent by the server); the toast is for a node off screen.
// Both are plain frontend APIs of ComfyUI 0.3.75 (frontend 1.32) and newer: the "executed" event and the
// extension manager's toast; without a toast API (older frontends) only the node's text remains.
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";

const TOAST_LIFE_MS = 12000;

function showNotices(event) {
  const notices = event?.detail?.output?.svfr_notices;
  if (!Array.isArray(notices) || notices.length === 0) return;
  const toast = app.extensionManager?.toast;
  if (!toast?.add) return;
  const node = app.graph?.getNodeById?.(Number(event.detail.display_node ?? event.detail.node));
  toast.add({
    severity: "warn",
    summary: `SVFR${node?.title ? ": " + node.title : ""}`,
    detail: notices.join("\n"),
    life: TOAST_LIFE_MS,
  });
}

app.registerExtension({
  name: "svfr.Notices",
  async setup() {
    api.addEventListener("executed", showNotices);
  },
});
