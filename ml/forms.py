"""Forms of the ML operations pages. They parse input; the services decide and record."""
from __future__ import annotations

from django import forms

from . import selectors, services
from .models import Dataset, ModelVersion, TuningRun


class DatasetUploadForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="Unique; how commands and forms refer to the set.")
    kind = forms.ChoiceField(choices=[("", "Decide from the content"), *Dataset.Kind.choices], required=False)
    file = forms.FileField(help_text="A zip of class folders (<emotion>/*.jpg, optionally under train/ val/ test/), "
                                     "a FER2013 CSV (emotion,pixels,Usage), or an audit zip with manifest.csv "
                                     "(path,label,<attribute columns>; label may be empty).")
    skip_invalid = forms.BooleanField(required=False, label="Skip unknown labels and unreadable images",
                                      help_text="Otherwise the whole set is refused and the problems listed.")


class TrainingRunForm(forms.Form):
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none())
    preset = forms.ChoiceField(label="Architecture preset", initial="vgg-s",
                               choices=[(p, p) for p in services.ARCHITECTURE_PRESETS],
                               help_text="tiny: seconds, for trials; small; vgg-s: the shipped default; vgg: larger; "
                                         "vgg-m: 64…512, for 40 px crops; resnet-m: residual, for 44 px crops; "
                                         "tuned: the tuning family (default widths).")
    epochs = forms.IntegerField(min_value=1, max_value=1000, initial=30)
    batch_size = forms.IntegerField(min_value=1, max_value=8192, initial=128)
    learning_rate = forms.FloatField(min_value=1e-6, max_value=10, initial=0.05,
                                     help_text="Peak SGD rate after warm-up, cosine-decayed to zero.")
    warmup_epochs = forms.IntegerField(min_value=0, max_value=100, initial=2)
    augmentation = forms.ChoiceField(choices=[(a, a) for a in services.AUGMENTATIONS], initial="strong")
    class_weighting = forms.ChoiceField(choices=[(c, c) for c in services.CLASS_WEIGHTINGS], initial="sqrt")
    val_dataset = forms.ModelChoiceField(queryset=Dataset.objects.none(), required=False,
                                         label="Validation dataset",
                                         help_text="Optional; otherwise the dataset's own val/ split.")
    limit_per_class = forms.IntegerField(min_value=1, required=False,
                                         help_text="Optional cap of images per class and split (quick trials).")
    crop_size = forms.IntegerField(min_value=0, max_value=48, required=False, label="Crop size (px)",
                                   help_text="Train on random crops of this side, test on the centre crop "
                                             "(e.g. 40); empty = the whole 48 px face.")
    swa_epochs = forms.IntegerField(min_value=0, max_value=1000, required=False, label="SWA epochs",
                                    help_text="Average the weights of the last N epochs; empty = off.")
    max_minutes = forms.FloatField(min_value=0, required=False, label="Pause after (minutes)",
                                   help_text="Pause with a complete checkpoint before an epoch that would run past "
                                             "this; the run page then offers Resume. Empty = no limit.")
    folds = forms.IntegerField(min_value=2, max_value=services.MAX_FOLDS, required=False, label="k-fold",
                               help_text="Cross-validate the recipe on k folds (mean ± sd of each metric) "
                                         "instead of training one model; empty = one model.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = selectors.datasets_for_training()
        self.fields["val_dataset"].queryset = selectors.datasets_for_evaluation()

    def config(self) -> dict:
        d = self.cleaned_data
        return {"preset": d["preset"], "epochs": d["epochs"], "batch_size": d["batch_size"],
                "learning_rate": d["learning_rate"], "warmup_epochs": d["warmup_epochs"],
                "augmentation": d["augmentation"], "class_weighting": d["class_weighting"],
                "limit_per_class": d.get("limit_per_class"),
                "val_dataset_id": d["val_dataset"].pk if d.get("val_dataset") else None,
                **{k: d[k] for k in ("crop_size", "swa_epochs", "max_minutes", "folds") if d.get(k)}}


class TuningRunForm(forms.Form):
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none(),
                                     help_text="Trials train on its train/ split and are scored on its val/ split.")
    val_dataset = forms.ModelChoiceField(queryset=Dataset.objects.none(), required=False, label="Validation dataset",
                                         help_text="Optional; otherwise the dataset's own val/ split.")
    algorithm = forms.ChoiceField(choices=TuningRun.Algorithm.choices, initial="hyperband",
                                  help_text="Hyperband stops weak trials early; random search trains each fully.")
    max_trials = forms.IntegerField(min_value=1, max_value=services.TUNING_LIMITS["max_trials"][1], initial=6,
                                    label="Trials", help_text="The budget: at most this many trials…")
    epochs_per_trial = forms.IntegerField(min_value=1, max_value=services.TUNING_LIMITS["epochs_per_trial"][1],
                                          initial=5, help_text="…of at most this many epochs each.")
    batch_size = forms.IntegerField(min_value=1, max_value=8192, initial=128)
    limit_per_class = forms.IntegerField(min_value=1, required=False,
                                         help_text="Optional cap of images per class and split (quick searches).")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = selectors.datasets_for_training()
        self.fields["val_dataset"].queryset = selectors.datasets_for_evaluation()


class TrainBestForm(forms.Form):
    epochs = forms.IntegerField(min_value=1, max_value=1000, initial=30,
                                help_text="The search trained briefly; the real run trains longer.")


class EvaluationForm(forms.Form):
    model_version = forms.ModelChoiceField(queryset=ModelVersion.objects.all())
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none(), help_text="Any labelled dataset.")
    split = forms.ChoiceField(choices=[("", "val if the set has one, else all"), ("val", "val"), ("test", "test"),
                                       ("train", "train"), ("all", "all")], required=False)
    tta = forms.BooleanField(required=False, label="Flip test-time augmentation",
                             help_text="Otherwise the mode in the model's metadata (none, flip or crops).")
    faces = forms.ChoiceField(choices=[("auto", "auto: detect faces in photos, use small crops whole"),
                                       ("detect", "detect in every image"), ("whole", "whole image")],
                              initial="auto")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = selectors.datasets_for_evaluation()


class BiasAuditForm(forms.Form):
    model_version = forms.ModelChoiceField(queryset=ModelVersion.objects.all())
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none(),
                                     help_text="An audit set: a manifest with group attributes.")
    attributes = forms.CharField(required=False, help_text="Comma-separated, e.g. gender,age_band; empty = all.")
    gap_threshold = forms.FloatField(min_value=0.001, max_value=0.999, initial=0.10,
                                     help_text="Flag accuracy, recall and predicted-share gaps above this.")
    ratio_threshold = forms.FloatField(min_value=0.001, max_value=1.0, initial=0.80,
                                       help_text="Flag a worst/best group accuracy ratio below this.")
    min_group_size = forms.IntegerField(min_value=1, initial=20,
                                        help_text="Smaller groups are shown but not compared.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = selectors.datasets_for_audit()

    def clean(self):
        cleaned = super().clean()
        dataset, raw = cleaned.get("dataset"), cleaned.get("attributes") or ""
        attrs = [a.strip() for a in raw.split(",") if a.strip()]
        if dataset is not None:
            unknown = [a for a in attrs if a not in dataset.attributes]
            if unknown:
                self.add_error("attributes", f"{dataset.name} has no attribute {', '.join(unknown)}; "
                                             f"it has {', '.join(dataset.attributes)}")
        cleaned["attribute_list"] = attrs
        return cleaned
