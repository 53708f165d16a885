# crrun — see README.md. Every target that needs packages installs them itself
# (as root on Debian 12) through `make deps`.

GO       ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
BIN      := bin/crrun
# One static binary a user can copy to a cluster: cgo + libseccomp.a.
LDFLAGS  := -linkmode external -extldflags -static -X main.version=$(VERSION)
TAGS     := netgo,osusergo
DEB_PKGS := libseccomp-dev gcc libc6-dev make python3 util-linux procps psmisc libgomp1 bash sqlite3 libsqlite3-dev openmpi-bin libopenmpi-dev

export PATH := $(dir $(GO)):$(PATH)
export CGO_ENABLED := 1

.PHONY: all build deps test test-short demo bench lint man clean

all: build

deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "make deps: need root to apt-get install$$missing" >&2; exit 1; fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

build: deps
	$(GO) build -tags $(TAGS) -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/crrun

# The whole suite: unit tests and end-to-end tests of real programs under real
# crrun. Tests that need root or a kernel feature skip with the reason.
# As root it also installs and starts a single-node Slurm for the HPC
# end-to-end tests (.ci/slurm.sh), and stops it afterwards whatever happens
# (CRRUN_NO_SLURM=1 to skip them).
test: build
	@set -e; trap 'bash .ci/slurm.sh stop >/dev/null 2>&1 || true' EXIT; \
	if [ "$$(id -u)" = 0 ] && [ -z "$$CRRUN_NO_SLURM" ]; then \
		slurm_env=$$(bash .ci/slurm.sh start); eval "$$slurm_env"; \
	fi; \
	CRRUN_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -parallel 3 -timeout 20m ./...

test-short: build
	CRRUN_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -short ./...

demo: build
	bash examples/demo.sh

bench: build
	bash bench/run.sh --write-docs
	bash bench/crbench.sh --write-docs
	bash bench/verify.sh --write-docs
	bash bench/incremental.sh --write-docs

lint: deps
	gofmt -l . | (! grep .) || (echo "gofmt: the files above need formatting" >&2; exit 1)
	$(GO) mod tidy -diff || (echo "go.mod/go.sum are not tidy: run 'go mod tidy'" >&2; exit 1)
	$(GO) vet -tags $(TAGS) ./...
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@latest
	$$($(GO) env GOPATH)/bin/staticcheck ./...

# Man pages (bin/man/man1) and bash, zsh and fish completions
# (bin/completions), generated from the cobra definitions of the CLI itself.
man: deps
	env -u CRRUN_DIR $(GO) run -tags gendoc,$(TAGS) ./cmd/crrun __gendoc bin

clean:
	rm -rf bin
