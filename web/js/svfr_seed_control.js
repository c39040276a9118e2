// The SVFR Sampler's seed starts at "fixed" (not the frontend's "randomize"): SVFR restores a video,
// so a rerun should repeat the result. Pure helper (no ComfyUI imports) so it is testable under node.

// Set the "control after generate" combo linked to `inputName` to "fixed"; false if the node has none.
export function fixSeedControl(node, inputName = "seed") {
  const seed = (node.widgets || []).find((w) => w.name === inputName);
  const control = (seed?.linkedWidgets || []).find((w) => w.options?.values?.includes("fixed"));
  if (!control) return false;
  control.value = "fixed";
  return true;
}
