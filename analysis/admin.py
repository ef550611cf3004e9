"""Django admin for every analysis model, with list filters and search.

Results (segments, observations, buckets) are read-only here: they come from the pipeline, and
an edit by hand would make a report disagree with what the model saw."""
from django.contrib import admin

from .models import Analysis, AnalysisSegment, FaceObservation, Footage, Moment, Project, TimelineBucket


class ReadOnlyResults(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "organisation", "created_by", "created_at")
    list_filter = ("organisation", "created_at")
    search_fields = ("name", "description", "organisation__name", "organisation__slug")
    raw_id_fields = ("created_by",)
    list_select_related = ("organisation", "created_by")


@admin.register(Footage)
class FootageAdmin(admin.ModelAdmin):
    list_display = ("original_name", "project", "kind", "status", "duration_s", "size_bytes", "created_at")
    list_filter = ("status", "kind", "project__organisation", "created_at")
    search_fields = ("original_name", "sha256", "rejection_reason", "project__name", "project__organisation__name")
    readonly_fields = ("sha256", "size_bytes", "duration_s", "fps", "frame_count", "width", "height", "created_at")
    raw_id_fields = ("project", "uploaded_by")
    list_select_related = ("project",)


class SegmentInline(admin.TabularInline):
    model = AnalysisSegment
    fields = ("index", "t_start", "t_end", "status", "attempts", "progress", "frames_analysed", "faces_detected",
              "wall_time_s", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Analysis)
class AnalysisAdmin(admin.ModelAdmin):
    list_display = ("id", "footage", "status", "progress", "detector", "sample_fps", "model_version", "created_at",
                    "finished_at")
    list_filter = ("status", "detector", "model_version", "footage__project__organisation", "created_at")
    search_fields = ("id", "footage__original_name", "footage__project__name", "error")
    readonly_fields = ("progress", "segment_count", "segments_done", "summary", "started_at", "finished_at",
                       "created_at")
    raw_id_fields = ("footage", "created_by")
    list_select_related = ("footage", "model_version")
    inlines = [SegmentInline]


@admin.register(AnalysisSegment)
class AnalysisSegmentAdmin(ReadOnlyResults):
    list_display = ("analysis", "index", "status", "attempts", "frames_analysed", "faces_detected", "wall_time_s")
    list_filter = ("status", "attempts")
    search_fields = ("analysis__id", "analysis__footage__original_name", "error")
    list_select_related = ("analysis",)


@admin.register(FaceObservation)
class FaceObservationAdmin(ReadOnlyResults):
    list_display = ("analysis", "t", "frame_index", "track_id", "top_emotion", "detector_score")
    list_filter = ("top_emotion", "analysis__detector")
    search_fields = ("analysis__id",)
    list_select_related = ("analysis",)
    show_full_result_count = False  # millions of rows: no COUNT(*) on every page


@admin.register(TimelineBucket)
class TimelineBucketAdmin(ReadOnlyResults):
    list_display = ("analysis", "index", "t_start", "t_end", "frames", "faces", "unique_tracks")
    list_filter = ("analysis__status",)
    search_fields = ("analysis__id", "analysis__footage__original_name")
    list_select_related = ("analysis",)


@admin.register(Moment)
class MomentAdmin(admin.ModelAdmin):
    list_display = ("name", "analysis", "t_start", "t_end", "created_by", "created_at")
    list_filter = ("analysis__footage__project__organisation", "created_at")
    search_fields = ("name", "analysis__footage__original_name", "analysis__footage__project__name")
    raw_id_fields = ("analysis", "created_by")
    list_select_related = ("analysis__footage", "created_by")
