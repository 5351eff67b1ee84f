# Integration tests: the real program on small data. One line each.
pretext_add_test(cli_pretrain_evaluate pretrain_evaluate.sh)
pretext_add_test(cli_resume_and_tasks resume_and_tasks.sh)
pretext_add_test(cli_bad_inputs bad_inputs.sh)
pretext_add_test(simclr_learns learns.sh)
