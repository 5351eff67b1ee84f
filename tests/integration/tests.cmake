# Integration tests: the real program on small data. One line each.
pretext_add_test(cli_pretrain_evaluate pretrain_evaluate.sh)
pretext_add_test(cli_resume_and_tasks resume_and_tasks.sh)
pretext_add_test(cli_bad_inputs bad_inputs.sh)
pretext_add_test(cli_kill_resume kill_resume.sh)
pretext_add_test(cli_report report.sh)
pretext_add_test(cli_launch launch.sh)
pretext_add_test(simclr_learns learns.sh)
pretext_add_test(simsiam_collapse_seen collapse.sh)
pretext_add_test(barlow_twins_learns learns.sh ARGS barlow-twins "--width 16" --epochs 6 --optimizer adamw --base-lr 5e-3 --weight-decay 1e-4 --task-option projector_hidden_dim=512 --task-option projector_out_dim=512 --task-option "augment1={\"size\":20,\"crop_scale\":[0.35,1.0],\"blur_probability\":0.0,\"brightness\":0.8,\"contrast\":0.8}" --task-option "augment2={\"size\":20,\"crop_scale\":[0.35,1.0],\"blur_probability\":0.0,\"brightness\":0.8,\"contrast\":0.8}")
pretext_add_test(vicreg_learns learns.sh ARGS vicreg "--width 16" --epochs 3 --optimizer adamw --base-lr 5e-3 --weight-decay 1e-4 --task-option projector_hidden_dim=512 --task-option projector_out_dim=512 --task-option "augment1={\"size\":20,\"crop_scale\":[0.35,1.0],\"blur_probability\":0.0,\"brightness\":0.8,\"contrast\":0.8}" --task-option "augment2={\"size\":20,\"crop_scale\":[0.35,1.0],\"blur_probability\":0.0,\"brightness\":0.8,\"contrast\":0.8}")
pretext_add_test(dino_learns learns.sh ARGS dino "--width 16" --epochs 3 --optimizer adamw --base-lr 4e-3 --weight-decay 1e-4 --task-option prototypes=64 --task-option head_hidden_dim=512 --task-option head_batch_norm=true --task-option teacher_temperature=0.03 --task-option teacher_temperature_start=0.03 --task-option teacher_momentum=0.95 --task-option freeze_last_layer_epochs=0 --task-option "multicrop={\"global_size\":20,\"local_crops\":2,\"local_size\":12,\"brightness\":0.8,\"contrast\":0.8}")
# ViT + MAE: a 96-wide, 4-block vit-tiny with 4×4 patches keeps the run near a minute; the MAE
# decoder is halved to 64 wide for the same reason. AdamW as in MAE; 2 warm-up epochs, since a
# 10% warm-up (half an epoch here) dips the k-NN accuracy below the random encoder's for the run.
pretext_add_test(mae_learns learns.sh ARGS mae "--encoder vit-tiny --width 96 --depth 4 --patch-size 4" --epochs 6 --optimizer adamw --base-lr 3e-3 --weight-decay 0.05 --warmup-epochs 2 --task-option decoder_dim=64 --task-option decoder_heads=2)
pretext_add_test(simclr_vit_learns learns.sh ARGS simclr "--encoder vit-tiny --width 96 --depth 4 --patch-size 4" --epochs 2 --optimizer adamw --base-lr 2e-3 --weight-decay 0.05 --task-option "augment={\"size\":20,\"crop_scale\":[0.35,1.0],\"blur_probability\":0.0}")
pretext_add_test(moco_learns learns.sh ARGS moco "--width 16" --epochs 12 --optimizer lars --base-lr 0.6 --task-option queue_size=512 --task-option temperature=0.2 --task-option bn_splits=4 --task-option "augment={\"size\":20,\"crop_scale\":[0.35,1.0],\"brightness\":0.8,\"contrast\":0.8}")
pretext_add_test(mocov3_learns learns.sh ARGS mocov3 "--width 16" --epochs 6 --optimizer adamw --base-lr 2e-3 --weight-decay 1e-4 --task-option projector_hidden_dim=512 --task-option predictor_hidden_dim=512 --task-option momentum=0.9 --task-option "augment={\"size\":20,\"crop_scale\":[0.35,1.0],\"brightness\":0.8,\"contrast\":0.8,\"solarize_probability\":0.0}")
pretext_add_test(byol_learns learns.sh ARGS byol "--width 16" --epochs 10 --optimizer adamw --base-lr 2e-3 --weight-decay 1e-4 --task-option projector_hidden_dim=512 --task-option predictor_hidden_dim=512 --task-option momentum=0.9 --task-option "augment={\"size\":20,\"crop_scale\":[0.5,1.0],\"brightness\":0.8,\"contrast\":0.8}")
pretext_add_test(simsiam_learns learns.sh ARGS simsiam "--width 16" --epochs 10 --optimizer adamw --base-lr 2e-3 --weight-decay 1e-4 --task-option projector_hidden_dim=512 --task-option projector_out_dim=512 --task-option "augment={\"size\":20,\"crop_scale\":[0.35,1.0],\"brightness\":0.8,\"contrast\":0.8}")
pretext_add_test(text_pretrain_evaluate text_pretrain_evaluate.sh)
pretext_add_test(cli_distributed distributed.sh)
pretext_add_test(cli_two_hosts two_hosts.sh)
set_tests_properties(cli_two_hosts PROPERTIES SKIP_RETURN_CODE 77)
# Speech and video: the user's own folders end to end, and each task beats a random encoder.
pretext_add_test(cli_media_folders media_folders.sh)
pretext_add_test(audio_contrastive_learns media_learns.sh ARGS speech audio-contrastive --epochs 2)
pretext_add_test(masked_units_learns media_learns.sh ARGS speech masked-units --epochs 4)
pretext_add_test(frame_order_learns media_learns.sh ARGS video frame-order --epochs 6)
pretext_add_test(clip_contrastive_learns media_learns.sh ARGS video clip-contrastive --epochs 2)
# The longest tests first (seconds on 2 cores, fresh-clone CI run): ctest -j 2 starts tests by
# falling COST, so the run does not end with one long test alone on the machine.
set_tests_properties(audio_contrastive_learns PROPERTIES COST 180)
set_tests_properties(cli_media_folders moco_learns cli_bad_inputs frame_order_learns masked_units_learns PROPERTIES COST 75)
set_tests_properties(mocov3_learns text_pretrain_evaluate barlow_twins_learns byol_learns simsiam_learns
                     cli_kill_resume mae_learns PROPERTIES COST 55)
# Each random encoder is measured once (one pretraining step at a negligible rate, then k-NN) and
# shared by the learning tests of that encoder: ten tests measured the same two encoders before.
pretext_add_test(random_convnet_baseline learns.sh ARGS --baseline simclr "--width 16")
pretext_add_test(random_vit_baseline learns.sh ARGS --baseline simclr "--encoder vit-tiny --width 96 --depth 4 --patch-size 4")
set_tests_properties(random_convnet_baseline PROPERTIES FIXTURES_SETUP random_convnet COST 60)
set_tests_properties(random_vit_baseline PROPERTIES FIXTURES_SETUP random_vit COST 60)
function(pretext_share_baseline fixture)
  foreach(test ${ARGN})
    set_property(TEST ${test} APPEND PROPERTY FIXTURES_REQUIRED ${fixture})
    set_property(TEST ${test} APPEND PROPERTY ENVIRONMENT
                 "PRETEXT_BASELINE=${CMAKE_CURRENT_BINARY_DIR}/work/${fixture}_baseline/top1.txt")
  endforeach()
endfunction()
pretext_share_baseline(random_convnet simclr_learns barlow_twins_learns vicreg_learns dino_learns moco_learns
                       mocov3_learns byol_learns simsiam_learns)
pretext_share_baseline(random_vit mae_learns simclr_vit_learns)
