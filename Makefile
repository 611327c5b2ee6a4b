# The suite's entry points. Every target installs missing Debian packages first when run as
# root (see scripts/ensure-deps.sh) and prints the install line otherwise.

SWIFT        ?= swift
BUILD_DIR    ?= .build
SWIFT_FLAGS  ?= --scratch-path $(BUILD_DIR)
RELEASE_DIR  ?= .build-release

.PHONY: all deps build proto proto-check test test-swift test-python run bench bench-ab bench-idle-rss clean

all: build

deps:
	@scripts/ensure-deps.sh

build: deps
	$(SWIFT) build $(SWIFT_FLAGS)

## Regenerates the C (protoc-c) and Swift code for everything under proto/.
proto: deps
	SCRATCH=$(BUILD_DIR) scripts/gen-protos.sh

## Fails when regenerating would change committed generated code.
proto-check: proto
	@git diff --exit-code --stat -- Sources/CProtos Sources/CProtoDescriptor Sources/Protos || \
	  (echo "Generated code is stale: run 'make proto' and commit the result." >&2; exit 1)
	@test -z "$$(git status --porcelain -- Sources/CProtos Sources/CProtoDescriptor Sources/Protos)" || \
	  (git status --porcelain -- Sources/CProtos Sources/CProtoDescriptor Sources/Protos; echo "Untracked generated files: run 'make proto' and commit them." >&2; exit 1)

## Every test: generated-code check, Swift tests, and wire tests against Python grpcio.
test: deps proto-check test-swift test-python

test-swift: deps
	$(SWIFT) build $(SWIFT_FLAGS) --build-tests
	$(SWIFT) test $(SWIFT_FLAGS) --skip-build --parallel --num-workers 2

test-python: deps
	$(SWIFT) build $(SWIFT_FLAGS) --product interop-server
	$(SWIFT) build $(SWIFT_FLAGS) --product interop-client
	$(SWIFT) build $(SWIFT_FLAGS) --product suite-db
	venv=$$(scripts/python-env.sh $(BUILD_DIR)) && \
	  SWIFT_BIN_DIR=$$($(SWIFT) build $(SWIFT_FLAGS) --show-bin-path) \
	  PYTHON_GEN_DIR=$(BUILD_DIR)/python-gen \
	  $$venv/bin/python -m pytest -q -p no:cacheprovider tests/python

## Starts the suite on loopback with a private PostgreSQL cluster under data/ (or DATABASE_URL);
## Ctrl-C stops everything.
run: deps
	BUILD_DIR=$(BUILD_DIR) scripts/run-suite.sh

## Release builds: gRPC driven by h2load next to gRPC C++ and raw nghttpd; PostgreSQL pool
## lookups next to pgbench; catalog CSV import next to psql \copy, GetProduct next to pgbench -S,
## Reserve/Commit pairs under contention; last, every server's idle memory against 20 MB (fails
## when one is above). See BENCHMARKS.md.
bench: deps
	scripts/bench.sh $(RELEASE_DIR)
	scripts/bench-db.sh $(RELEASE_DIR)
	scripts/bench-identity.sh $(RELEASE_DIR)
	scripts/bench-gateway.sh $(RELEASE_DIR)
	ROWS=200000 scripts/bench-catalog.sh $(RELEASE_DIR) release
	scripts/bench-catalog-rpc.sh $(RELEASE_DIR)
	scripts/bench-idle-rss.sh $(RELEASE_DIR)

## Old build against new: BASE (a git ref) built in .build-ab/base, the working tree in
## RELEASE_DIR, rounds alternated (core/gRPC C++, gateway/HAProxy, pool/pgbench, CSV/\copy).
## Idle RSS of every server too. ROUNDS, DURATION and BENCHES as in scripts/bench-ab.sh.
bench-ab: deps
	@test -n "$(BASE)" || (echo "usage: make bench-ab BASE=<git-ref>" >&2; exit 2)
	NEW_BUILD_DIR=$(RELEASE_DIR) scripts/bench-ab.sh $(BASE)

## Idle resident memory of interop-server, identity, catalog and the gateway against 20 MB.
bench-idle-rss: deps
	scripts/bench-idle-rss.sh $(RELEASE_DIR)

clean:
	rm -rf $(BUILD_DIR) $(RELEASE_DIR) .build-ab
	git worktree prune
