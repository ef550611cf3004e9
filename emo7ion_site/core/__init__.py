"""What every app shares and no app owns: the one error base and the job status vocabulary."""
