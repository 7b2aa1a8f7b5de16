.PHONY: run test stop build bench profile

# Starts RabbitMQ and PostgreSQL on loopback, creates the schema, loads the demo data and runs the worker.
run:
	scripts/run.sh

# Runs every test; the integration tests start their own throwaway RabbitMQ and PostgreSQL, in containers (Docker, or
# podman set up for the run) or as local processes. Extra dotnet test options go in TEST_ARGS, e.g.
# make test TEST_ARGS="--filter FullyQualifiedName~Reliability" (quote a filter with | inside: TEST_ARGS='--filter "A|B"').
test:
	scripts/test.sh $(TEST_ARGS)

# Stops the services that `make run` started (their data stays in .local/).
stop:
	scripts/local-services.sh stop "$(CURDIR)/.local"

build:
	dotnet build Worker.sln -c Release

# Measures the worker beside the raw limit and a plain MassTransit baseline (see docs/performance.md).
# Extra bench options go in BENCH_ARGS, e.g. make bench BENCH_ARGS="--count 50000".
bench:
	scripts/bench.sh $(BENCH_ARGS)

# Where the CPU goes per command: the bench's worker and limit runs under a system-wide Linux perf profile, reported
# by process (pipeline, broker, database, bench) and by component inside each pipeline (see docs/performance.md).
# Extra bench options go in PROFILE_ARGS, e.g. make profile PROFILE_ARGS="--rate 2000".
profile:
	scripts/profile.sh $(PROFILE_ARGS)
