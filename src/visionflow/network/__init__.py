"""The shared engine of tasks whose models answer with outputs of their own (boxes, masks,
keypoints, ...) rather than labels: one base per step, each task subclassing only what differs.

- `predictor.NetworkPredictor`: a model opened for prediction (run folder, `.keras` file or export
  folder, in the fastest runtime installed), images in, one answer per image out.
- `evaluate.Evaluator`: the kept model scored after training (`finish_run`) and on any folder
  (`evaluate_folder`): metrics.json, predictions CSV, report.html.
- `export.ParityExport`: `visionflow export` with the task's own parity rule.
- `serve`: the served model's description and loading, and decoding of uploaded images.
- `cli`: what `visionflow predict` / `evaluate` of such a model share (inputs split into images and
  videos, refusals of flags that do not apply, files written atomically next to no source).

The core never imports a task: tasks (`visionflow.tasks.detection`, `...segmentation`) import these.
"""
