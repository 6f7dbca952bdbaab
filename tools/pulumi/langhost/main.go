// Command pulumi-language-python runs this project's Python program for the Pulumi engine.
//
// The Pulumi CLI starts a language host for the project's runtime and asks it, over gRPC, to run the
// program. Pulumi publishes the Python host as its own Go module, but the module proxy these machines
// reach does not serve that module, so this is a small host of our own built against the published
// Pulumi SDK module of the same release: it resolves the project's virtualenv with the SDK's Python
// toolchain package and runs the SDK's own program executor from that module.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// executorName is the SDK's program runner, installed next to this binary by the setup script.
const executorName = "pulumi-language-python-exec"

// userActionableExit is the executor's exit status after it already showed the user a clear error.
const userActionableExit = 32

// The engine also passes --logtostderr and -v, which the SDK's logging package registers itself.
func main() {
	flag.String("tracing", "", "tracing endpoint (accepted for the engine, unused)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version.Version)
		return
	}
	if err := serve(flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "pulumi-language-python:", err)
		os.Exit(1)
	}
}

// serve answers the engine's gRPC calls until the engine goes away or asks us to stop.
func serve(engineAddress string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	executor := filepath.Join(filepath.Dir(self), executorName)
	if _, err := os.Stat(executor); err != nil {
		return fmt.Errorf("missing program executor: %w", err)
	}
	go leaveWithTheCLI(250 * time.Millisecond)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cancel := make(chan bool)
	go func() { <-ctx.Done(); close(cancel) }()
	if engineAddress != "" {
		if err := rpcutil.Healthcheck(ctx, engineAddress, 5*time.Minute, stop); err != nil {
			return err
		}
	}
	host := &languageHost{executor: executor, engineAddress: engineAddress, ctx: ctx}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(s *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(s, host)
			return nil
		},
	})
	if err != nil {
		return err
	}
	fmt.Printf("%d\n", handle.Port)
	return <-handle.Done
}

// programs are the process groups of the programs running now; programsMu also keeps one from
// starting while the host leaves.
var (
	programsMu sync.Mutex
	programs   = map[int]bool{}
)

// leaveWithTheCLI exits, killing the running programs first, once the CLI that started this host is
// gone: a killed `pulumi` leaves its plugins running, and the program would go on asking for changes
// beside the next run. It watches the parent pid, as providers/plugin.py does: PR_SET_PDEATHSIG on
// this host would fire when the CLI thread that forked it ends, not when the CLI does.
func leaveWithTheCLI(interval time.Duration) {
	cli := os.Getppid()
	for os.Getppid() == cli {
		time.Sleep(interval)
	}
	programsMu.Lock()
	for group := range programs {
		_ = syscall.Kill(-group, syscall.SIGKILL)
	}
	os.Exit(1)
}

// runProgram runs the executor in a process group of its own, so that it goes together with whatever
// it started: on an interrupt, and when the CLI is gone. Out of the host's group it would outlive a
// host the CLI kills, so it also gets SIGKILL when the host dies; PR_SET_PDEATHSIG fires when the
// thread that started it ends, so this goroutine keeps its thread until the program ends.
func runProgram(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // fails only when the group is gone already
		return nil
	}
	programsMu.Lock()
	err := cmd.Start()
	if err == nil {
		programs[cmd.Process.Pid] = true
	}
	programsMu.Unlock()
	if err != nil {
		return err
	}
	defer func() {
		programsMu.Lock()
		delete(programs, cmd.Process.Pid)
		programsMu.Unlock()
	}()
	return cmd.Wait()
}

type languageHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	executor      string
	engineAddress string
	ctx           context.Context
}

func (h *languageHost) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engineAddress = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *languageHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

// GetRequiredPackages reports none: the program uses only dynamic providers, which ship with the SDK.
func (h *languageHost) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *languageHost) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *languageHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	tc, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{Executable: info.PythonExecutable, Version: info.PythonVersion.String()}, nil
}

func (h *languageHost) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	packages, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, err
	}
	deps := make([]*pulumirpc.DependencyInfo, 0, len(packages))
	for _, p := range packages {
		deps = append(deps, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

// Run starts the executor in the project's virtualenv with the engine's settings and waits for it.
func (h *languageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	tc, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}
	cmd, err := tc.Command(h.ctx, append([]string{h.executor}, h.executorArgs(req)...)...)
	if err != nil {
		return nil, err
	}
	env, err := configEnv(req)
	if err != nil {
		return nil, err
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return runResult(runProgram(cmd)), nil
}

// executorArgs are the flags the SDK's executor takes, then the entry point and the program's arguments.
func (h *languageHost) executorArgs(req *pulumirpc.RunRequest) []string {
	var args []string
	flags := [][2]string{
		{"monitor", req.GetMonitorAddress()},
		{"engine", h.engineAddress},
		{"project", req.GetProject()},
		{"root_directory", req.GetInfo().GetRootDirectory()},
		{"stack", req.GetStack()},
		{"pwd", req.GetPwd()},
		{"dry_run", strconv.FormatBool(req.GetDryRun())},
		{"parallel", strconv.Itoa(int(req.GetParallel()))},
		{"organization", req.GetOrganization()},
	}
	for _, f := range flags {
		if f[1] != "" {
			args = append(args, "--"+f[0], f[1])
		}
	}
	args = append(args, req.GetInfo().GetEntryPoint())
	return append(args, req.GetArgs()...)
}

// configEnv passes the stack's configuration the way the SDK reads it: JSON in two variables.
func configEnv(req *pulumirpc.RunRequest) ([]string, error) {
	config, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	keys, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	return []string{"PULUMI_CONFIG=" + string(config), "PULUMI_CONFIG_SECRET_KEYS=" + string(keys)}, nil
}

// runResult turns the executor's exit into the engine's answer.
func runResult(err error) *pulumirpc.RunResponse {
	if err == nil {
		return &pulumirpc.RunResponse{}
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if exitErr.ExitCode() == userActionableExit {
			return &pulumirpc.RunResponse{Bail: true}
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited with non-zero exit code: %d", exitErr.ExitCode())}
	}
	return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not run the program executor: %v", err)}
}

// resolveToolchain finds the project's Python from the `virtualenv` runtime option in Pulumi.yaml.
func resolveToolchain(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	opts := toolchain.PythonOptions{
		Root:       info.GetRootDirectory(),
		ProgramDir: info.GetProgramDirectory(),
		Toolchain:  toolchain.Pip,
	}
	if v, ok := info.GetOptions().AsMap()["virtualenv"].(string); ok {
		opts.Virtualenv = v
	}
	return toolchain.ResolveToolchain(opts)
}
