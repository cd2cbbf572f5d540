# mtdb developer tasks. `make help` lists them.
GO ?= go
STATICCHECK_VERSION ?= v0.8.2

.PHONY: help run build test generate lint deadcode migration check-generated bench image

# Stamped into the binary (mtdb version, /api/v1/health) and the image labels.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.buildVersion=$(VERSION) -X main.buildCommit=$(COMMIT)

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

run: ## local development server: private PostgreSQL, migrations, demo data, tokens
	$(GO) run ./cmd/mtdb dev

build: ## build bin/mtdb
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/mtdb ./cmd/mtdb

# The image needs no base image: a static binary and the build host's CA
# bundle are staged into IMAGE_CONTEXT and COPY'd onto scratch (Containerfile;
# it documents the multi-stage variant for CI systems that can pull images).
IMAGE ?= mtdb:$(VERSION)
IMAGE_CONTEXT ?= bin/image
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
PODMAN ?= podman
PODMAN_FLAGS ?= --storage-driver vfs
image: ## container image $(IMAGE): static bin/image/mtdb on scratch with CA certificates (podman build; docker build works the same)
	@test -r $(CA_BUNDLE) || { echo "image: no CA bundle at $(CA_BUNDLE) (Debian: apt-get install ca-certificates)" >&2; exit 1; }
	mkdir -p $(IMAGE_CONTEXT)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(IMAGE_CONTEXT)/mtdb ./cmd/mtdb
	cp $(CA_BUNDLE) $(IMAGE_CONTEXT)/ca-certificates.crt
	$(PODMAN) $(PODMAN_FLAGS) build --pull=never -f Containerfile \
	  --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) $(IMAGE_CONTEXT)

# The isolation and attack suites run a second time with the settings sent
# as SET LOCAL (DATABASE_SETTINGS_MODE=set_local, the Citus path): both
# modes must be equivalent in every one of them.
SET_LOCAL_PKGS ?= ./internal/tenant/ ./internal/schemagen/ ./internal/httpapi/ ./internal/users/ ./internal/projects/ ./internal/tenants/
SET_LOCAL_RUN ?= Attack|Isolation|Visib|Reach|RawSQL|RLS|Ent|Driver|Settings|Temp|Audit|Injection|Tenant|Users|Projects|Oracle
test: ## all tests, against a real PostgreSQL (TEST_DATABASE_URL or 127.0.0.1:5432); the isolation and attack suites in both settings modes
	$(GO) test -race -count=1 ./...
	TEST_SETTINGS_MODE=set_local $(GO) test -race -count=1 -run '$(SET_LOCAL_RUN)' $(SET_LOCAL_PKGS)

generate: ## regenerate the Ent client from ent/schema
	cd ent && $(GO) generate ./...

check-generated: generate ## fail when the generated code is not committed
	git diff --exit-code -- ent

lint: ## go vet and staticcheck
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# deadcode (golang.org/x/tools, a tool of go.mod), two passes over ./...
# (ent/ is generated and left out). With the tests as roots nothing may be
# unreachable. From the programs alone only test support may be: the
# packages pgtest and servicetest (imported by the tests of many packages,
# so they cannot be _test.go files) and the seams that tests of other
# packages use (httpapi.Server.Echo adds test routes; localpg.Cluster.Port
# and HBAFile restart and reconfigure a test cluster; StartReplica, with its
# helper tool, makes the streaming replica of the read-replica test).
DEADCODE_TEST_SUPPORT := ^internal/(pgtest|servicetest)/|: unreachable func: (Server\.Echo|Cluster\.Port|Cluster\.HBAFile|Cluster\.StartReplica|Cluster\.tool)$$
deadcode: ## unreachable functions (golang.org/x/tools/cmd/deadcode), outside ent/
	@tmp=$$(mktemp); trap 'rm -f $$tmp' EXIT; \
	  $(GO) tool deadcode -test ./... > $$tmp || exit 1; \
	  out=$$(grep -v '^ent/' $$tmp); \
	  if [ -n "$$out" ]; then echo "$$out"; echo "deadcode: unreachable even from the tests" >&2; exit 1; fi; \
	  $(GO) tool deadcode ./... > $$tmp || exit 1; \
	  out=$$(grep -v '^ent/' $$tmp | grep -Ev '$(DEADCODE_TEST_SUPPORT)'); \
	  if [ -n "$$out" ]; then echo "$$out"; echo "deadcode: reachable only from tests (move it into a _test.go file)" >&2; exit 1; fi

migration: generate ## new migration from changed Ent schemas: make migration NAME=add_invoices [DEV_URL=postgres://...]
	@test -n "$(NAME)" || { echo "usage: make migration NAME=add_invoices [DEV_URL=postgres://.../scratch]" >&2; exit 2; }
	$(GO) run ./cmd/mtdb-gen $(NAME) $(if $(DEV_URL),--dev-url '$(DEV_URL)')

bench: build ## benchmarks: API vs reference server vs database alone, RLS cost, growth; writes bench/results/<date>.md and .json (BEFORE=bin/mtdb-old also measures an older binary in the same run)
	$(GO) build -o bin/bench ./bench
	./bin/bench -mtdb bin/mtdb $(if $(BEFORE),-before $(BEFORE))

FUZZTIME ?= 20s
.PHONY: test-faults fuzz

test-faults: ## reliability tests: database outage under load, the chaos matrix on a private cluster, PgBouncer (transaction mode), graceful shutdown (~3 min; needs pgbouncer and the PostgreSQL server binaries)
	MTDB_FAULT_TESTS=1 $(GO) test -count=1 -v -timeout 10m ./internal/faults/

fuzz: ## run every Fuzz target for FUZZTIME each (default 20s); their seeds also run in make test
	@set -e; for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for fn in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go | sed 's/^func //' | sort -u); do \
	    echo "fuzz: $$dir $$fn for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$dir; \
	  done; \
	done
