"""visionflow: a folder of images to a trained, evaluated, saved vision model.

Example:
    >>> import visionflow
    >>> run = visionflow.train(data="data/", epochs=15)
    >>> visionflow.evaluate(run.run_dir, "data/validation")
    >>> model = visionflow.load(run.run_dir)
    >>> model.predict("img.jpg").label
    >>> visionflow.timeline("runs/exp1", "clip.mp4", fps=2).segments()
"""

from visionflow.config import TrainConfig
from visionflow.errors import ConfigError, DataError, ModelError, TrainingFailed, VisionflowError

from visionflow.version import __version__


def train(config=None, **kwargs):
    """See `visionflow.workflow.train`."""
    from visionflow.workflow import train as _train

    return _train(config, **kwargs)


def evaluate(model, data, **kwargs):
    """See `visionflow.evaluation.evaluate`."""
    from visionflow.evaluation import evaluate as _evaluate

    return _evaluate(model, data, **kwargs)


def load(path, unsafe: bool = False, backend: str = "auto", say=None, tta: bool = False):
    """See `visionflow.predict.load`."""
    from visionflow.predict import load as _load

    return _load(path, unsafe=unsafe, backend=backend, say=say, tta=tta)


def explain(model, image, class_name=None, layer=None):
    """Grad-CAM for one image: `model` is a run folder or a loaded Predictor. See
    `visionflow.gradcam.GradCam` (build one to explain many images)."""
    from visionflow.gradcam import GradCam

    predictor = load(model, backend="keras") if not hasattr(model, "predict_arrays") else model
    return GradCam(predictor, layer).explain(image, class_name)


def timeline(model, video, fps=None, every=None, **kwargs):
    """An image model over a video's frames: see `visionflow.video.analyse` (a `Timeline` with
    per-frame answers, `.segments()` and `.to_dict()`)."""
    from visionflow.video import analyse

    return analyse(model, video, fps=fps, every=every, **kwargs)


def generate(model, n: int = 16, class_name=None, seed: int = 0, unsafe: bool = False):
    """Images from a trained GAN (a run folder or its model.keras): (n, h, w, 3) uint8 array; a
    conditional model makes `class_name` (a name or index), or every class in turn. The same seed
    gives the same images. See `visionflow.tasks.generation.sampler.Sampler` for interpolation."""
    from visionflow import tasks

    return tasks.function("generate")(model, n=n, class_name=class_name, seed=seed, unsafe=unsafe)


def audit(run, data=None, **kwargs):
    """See `visionflow.privacy.audit.audit`."""
    from visionflow.privacy.audit import audit as _audit

    return _audit(run, data, **kwargs)


def distill(teacher, data, model: str = "small_cnn", compare: bool = True, **kwargs):
    """Trains `model` on `data` with the teacher run's softened answers (see `visionflow.distill`)
    and, with `compare`, writes the teacher/student table; returns the student's RunResult."""
    from visionflow.distillation import compare as _compare
    from visionflow.workflow import train as _train

    result = _train(data=str(data), teacher=str(teacher), model=model, **kwargs)
    if compare:
        _compare(teacher, result.run_dir, say=kwargs.get("say", print))
    return result


def doctor(data, **kwargs):
    """See `visionflow.doctor.doctor`."""
    from visionflow.doctor import doctor as _doctor

    return _doctor(data, **kwargs)


def cross_validate(data, folds: int = 5, **kwargs):
    """See `visionflow.cv.cross_validate`."""
    from visionflow.cv import cross_validate as _cv

    return _cv(data, folds=folds, **kwargs)


def list_models() -> list[str]:
    """Names of the registered models, every task's."""
    from visionflow import tasks
    from visionflow.models import MODELS

    tasks.load_all()  # a task's own networks register with it
    return MODELS.names()


__all__ = ["TrainConfig", "train", "evaluate", "load", "explain", "timeline", "generate", "doctor", "cross_validate", "list_models", "VisionflowError", "ConfigError",
           "DataError", "ModelError", "TrainingFailed", "__version__"]
