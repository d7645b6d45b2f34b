"""Broadcasts: the stage composited, mixed and encoded once, served as (LL-)HLS.

Entry points: :func:`broadcast.pipeline.open_broadcast` (pipeline + live output + recording),
:class:`broadcast.stage.StageBuffer` (what the SFU side feeds), :func:`broadcast.decode.video_track`
/ :func:`broadcast.decode.audio_track` with :class:`broadcast.decode.DecodeThread` (RTP in),
:func:`broadcast.http.add_routes` with :class:`broadcast.hls.OutputRegistry` (HTTP out).
"""
