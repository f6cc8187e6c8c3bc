// Hyperlxd build script (Cake 7). Targets:
//   Deps    apt packages and the hyperlxd user/group (appliance/install-deps.sh; fast when present)
//   Native  native-shims: cmake configure + build + ctest; helper executables copied to artifacts/bin
//   Build   native helpers (NativeHelpers: Native without ctest), dotnet build of the solution (Release),
//           then publish hyperlxd and hlx: a complete artifacts/bin (default)
//   Test    Deps, Native, Build, then dotnet test with trx results in artifacts/test-results
//   Images  builds the test images into artifacts/images (images/busybox/build.sh: unified + split busybox;
//           images/vm/build.sh: the VM test image, its Debian packages cached in artifacts/cache/vm)
//   Run     main job: start the daemon, show it working through the stock `lxc` client, stop it
//   Bench   Hyperlxd vs LXD side by side (tests/Hyperlxd.Bench)
// Usage: dotnet tool restore && dotnet cake --target=<Target> [--configuration=Release] [--keep-running]

using System.Diagnostics;

var target = Argument("target", "Build");
var configuration = Argument("configuration", "Release");
var keepRunning = HasArgument("keep-running") && Argument("keep-running", "true") != "false";

var root = MakeAbsolute(Directory("."));
var artifacts = root.Combine("artifacts");
var binDir = artifacts.Combine("bin");
var testResults = artifacts.Combine("test-results");
var nativeSrc = root.Combine("native-shims");
var nativeBuild = nativeSrc.Combine("build");
var solution = root.CombineWithFilePath("Hyperlxd.sln");
var daemonProject = root.CombineWithFilePath("src/Hyperlxd.Daemon/Hyperlxd.Daemon.csproj");
var cliProject = root.CombineWithFilePath("src/Hyperlxd.Cli/Hyperlxd.Cli.csproj");
var benchProject = root.CombineWithFilePath("tests/Hyperlxd.Bench/Hyperlxd.Bench.csproj");
var hyperlxdBin = binDir.CombineWithFilePath("hyperlxd");
var nativeTestsFailed = false;

// ---------------------------------------------------------------------------------------------
// Helpers

// Runs a program with inherited stdio; throws on a non-zero exit code.
void Run(string program, string args, IDictionary<string, string> env = null, DirectoryPath workDir = null)
{
    Information($"$ {program} {args}");
    var settings = new ProcessSettings
    {
        Arguments = args,
        WorkingDirectory = workDir ?? root,
        EnvironmentVariables = env,
    };
    var code = StartProcess(program, settings);
    if (code != 0)
    {
        throw new CakeException($"{program} {args} exited with code {code}");
    }
}

string HyperlxdDir() => EnvironmentVariable("HYPERLXD_DIR") ?? "/var/lib/hyperlxd";

// A program's exit code and stdout (for the Run job's checks), stdout not echoed.
(int Code, string Stdout) Capture(string program, string args, IDictionary<string, string> env = null)
{
    var code = StartProcess(program, new ProcessSettings
    {
        Arguments = args,
        WorkingDirectory = root,
        EnvironmentVariables = env,
        RedirectStandardOutput = true,
        RedirectStandardError = true,
    }, out var stdout);
    return (code, string.Join("\n", stdout));
}

// The Run job's daemon lives in a network namespace of its own, so its default bridge, DHCP and
// container traffic stay there: no packet of the job leaves loopback or namespaces it made.
const string RunNetns = "hyperlxd-run";

void KillNetnsProcesses(string netns)
{
    for (var attempt = 0; attempt < 100; attempt++)
    {
        var pids = Capture("ip", $"netns pids {netns}").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (pids.Length == 0)
        {
            return;
        }
        Information($"killing what is left in network namespace {netns}: {string.Join(' ', pids)}");
        StartProcess("kill", $"-KILL {string.Join(' ', pids)}");
        System.Threading.Thread.Sleep(100);
    }
}

// ---------------------------------------------------------------------------------------------
// Tasks

Task("Deps")
    .Description("Install apt packages and the hyperlxd user/group (idempotent)")
    .Does(() =>
{
    Run("bash", root.CombineWithFilePath("appliance/install-deps.sh").FullPath);
});

Task("NativeHelpers")
    .Description("Build native-shims with CMake and copy the helper executables to artifacts/bin")
    .Does(() =>
{
    EnsureDirectoryExists(binDir);
    Run("cmake", $"-S \"{nativeSrc}\" -B \"{nativeBuild}\" -DCMAKE_BUILD_TYPE=RelWithDebInfo");
    Run("cmake", $"--build \"{nativeBuild}\" --parallel {Environment.ProcessorCount}");
    var helpers = GetFiles(nativeBuild.FullPath + "/bin/*");
    foreach (var helper in helpers)
    {
        // Copy then rename: running containers' monitors execute the old file (ETXTBSY on overwrite),
        // and keep running it after the rename.
        var target = binDir.CombineWithFilePath(helper.GetFilename());
        var staged = binDir.CombineWithFilePath(helper.GetFilename() + ".new");
        CopyFile(helper, staged);
        System.IO.File.Move(staged.FullPath, target.FullPath, overwrite: true);
        Information($"native helper -> {binDir.CombineWithFilePath(helper.GetFilename())}");
    }
    if (!helpers.Any())
    {
        Information("native-shims builds no helper executables yet: nothing copied to artifacts/bin");
    }
});

Task("Native")
    .Description("Build and test native-shims with CMake/ctest; copy helpers to artifacts/bin")
    .IsDependentOn("NativeHelpers")
    .Does(() =>
{
    EnsureDirectoryExists(testResults);
    // --no-tests=ignore: an empty project (no tests registered) is a success, not an error.
    var ctestArgs = $"--test-dir \"{nativeBuild}\" --output-on-failure --no-tests=ignore " +
                    $"--output-junit \"{testResults.CombineWithFilePath("ctest-native-shims.xml")}\"";
    if (target == "Test")
    {
        // Under Test, a ctest failure is reported after the dotnet tests ran too, so one run
        // shows every failing test.
        Information($"$ ctest {ctestArgs}");
        nativeTestsFailed = StartProcess("ctest", new ProcessSettings { Arguments = ctestArgs, WorkingDirectory = root }) != 0;
        if (nativeTestsFailed)
        {
            Error("ctest: native-shims tests failed (dotnet tests still run; Test fails at the end)");
        }
    }
    else
    {
        Run("ctest", ctestArgs);
    }
});

Task("Build")
    .Description("dotnet build (Release), publish hyperlxd (+ hlx) and the native helpers: a complete artifacts/bin")
    // The daemon cannot start a container without hyperlxd-monitor and hyperlxd-nsexec next to it.
    .IsDependentOn("NativeHelpers")
    .Does(() =>
{
    DotNetBuild(solution.FullPath, new DotNetBuildSettings { Configuration = configuration });

    var publish = new DotNetPublishSettings
    {
        Configuration = configuration,
        OutputDirectory = binDir,
        NoBuild = true,
        NoRestore = true,
        SelfContained = false,
    };
    DotNetPublish(cliProject.FullPath, publish);
    // The daemon is compiled ahead of time (Native AOT): it needs its own RID-specific build.
    DotNetPublish(daemonProject.FullPath, new DotNetPublishSettings
    {
        Configuration = configuration,
        OutputDirectory = binDir,
        Runtime = "linux-x64",
    });
    Information($"daemon: {hyperlxdBin}, client: {binDir.CombineWithFilePath("hlx")}");
});

Task("Test")
    .Description("Run all tests (trx in artifacts/test-results)")
    .IsDependentOn("Deps")
    .IsDependentOn("Native")
    .IsDependentOn("Build")
    .IsDependentOn("Images")
    .Does(() =>
{
    EnsureDirectoryExists(testResults);
    DeleteFiles(GetFiles(testResults.FullPath + "/**/*.trx"));
    try
    {
        DotNetTest(solution.FullPath, new DotNetTestSettings
        {
            Configuration = configuration,
            NoBuild = true,
            NoRestore = true,
            Loggers = new[] { "trx", "console;verbosity=normal" },
            ResultsDirectory = testResults,
            EnvironmentVariables = new Dictionary<string, string>
            {
                ["HYPERLXD_BIN"] = hyperlxdBin.FullPath,
            },
        });
    }
    finally
    {
        if (nativeTestsFailed)
        {
            throw new CakeException("native-shims ctest failed (see the Native task output)");
        }
    }
});

Task("Images")
    .Description("Build the busybox image and the VM test image (unified and split) into artifacts/images")
    .Does(() =>
{
    var imagesDir = artifacts.Combine("images");
    EnsureDirectoryExists(imagesDir);
    Run("bash", $"\"{root.CombineWithFilePath("images/busybox/build.sh")}\" \"{imagesDir}\"");
    // The kernel and qemu-guest-agent .debs are downloaded once into the cache; later builds are offline.
    Run("bash", $"\"{root.CombineWithFilePath("images/vm/build.sh")}\" \"{imagesDir}\" \"{artifacts.Combine("cache/vm")}\"");
});

Task("Run")
    .Description("Main job: start the daemon, drive it with the stock lxc client (a busybox container and a VM), stop it (unless --keep-running)")
    .IsDependentOn("Deps")
    .IsDependentOn("Native")
    .IsDependentOn("Images")
    .IsDependentOn("Build")
    .Does(() =>
{
    var dir = HyperlxdDir();
    var env = new Dictionary<string, string> { ["HYPERLXD_DIR"] = dir };
    System.IO.Directory.CreateDirectory(dir);
    var logPath = System.IO.Path.Combine(dir, "hyperlxd.log");

    if (System.IO.File.Exists($"/run/netns/{RunNetns}"))
    {
        if (Capture("ip", $"netns pids {RunNetns}").Stdout.Trim().Length > 0)
        {
            throw new CakeException($"network namespace {RunNetns} is in use (a daemon left by --keep-running?): stop it, then `ip netns delete {RunNetns}`");
        }
        Run("ip", $"netns delete {RunNetns}");
    }
    Run("ip", $"netns add {RunNetns}");
    Run("ip", $"-n {RunNetns} link set lo up");
    var netnsKept = false;

    Information($"Starting {hyperlxdBin} daemon (HYPERLXD_DIR={dir}, log {logPath}) in network namespace {RunNetns}");
    // Through `sh -c exec` so the daemon writes its log straight to the file: it may outlive this
    // script (--keep-running), and the pid is the daemon's own (nsenter execs it too; not
    // `ip netns exec`, which would also give it a mount namespace of its own).
    var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
    foreach (var a in new[] { "-c", "exec nsenter --net=\"$2\" -- \"$0\" daemon >>\"$1\" 2>&1", hyperlxdBin.FullPath, logPath, $"/run/netns/{RunNetns}" })
    {
        psi.ArgumentList.Add(a);
    }
    psi.Environment["HYPERLXD_DIR"] = dir;
    var daemon = System.Diagnostics.Process.Start(psi);

    var stopped = false;
    void Stop()
    {
        if (stopped || daemon.HasExited) { stopped = true; return; }
        stopped = true;
        Information($"Stopping the daemon (SIGTERM to {daemon.Id})");
        StartProcess("kill", $"-TERM {daemon.Id}");
        if (!daemon.WaitForExit(60_000))
        {
            Warning("daemon did not stop within 60 s: SIGKILL");
            daemon.Kill();
            daemon.WaitForExit();
        }
        Information($"daemon exited with code {daemon.ExitCode}");
    }

    try
    {
        Run(hyperlxdBin.FullPath, "waitready --timeout 120", env);

        var lxcEnv = new Dictionary<string, string>
        {
            ["LXD_DIR"] = dir,
            // A private client config, so the job never touches the caller's ~/.config/lxc.
            ["LXD_CONF"] = System.IO.Path.Combine(dir, "lxc-client"),
        };
        Run(hyperlxdBin.FullPath, "version", env);
        Run("lxc", "info", lxcEnv);
        Run("lxc", "profile list", lxcEnv);
        var profile = "run-demo";
        StartProcess("lxc", new ProcessSettings { Arguments = $"profile delete {profile}", EnvironmentVariables = lxcEnv, RedirectStandardError = true });
        Run("lxc", $"profile create {profile}", lxcEnv);
        Run("lxc", $"profile set {profile} user.purpose demo", lxcEnv);
        Run("lxc", $"profile show {profile}", lxcEnv);
        Run("lxc", $"profile delete {profile}", lxcEnv);
        Run("lxc", "profile list", lxcEnv);
        var hlxEnv = new Dictionary<string, string>(env) { ["HLX_CONF"] = System.IO.Path.Combine(dir, "hlx-client") };
        Run(binDir.CombineWithFilePath("hlx").FullPath, "info --format json", hlxEnv);
        Run(binDir.CombineWithFilePath("hlx").FullPath, "profile list", hlxEnv);

        // A container from the busybox image: storage, a root disk and the default bridge with eth0 on
        // it first (idempotent, like lxd init --auto; the bridge is in the job's network namespace).
        Run(hyperlxdBin.FullPath, "init --auto", env);
        Run("lxc", "network list", lxcEnv);
        var image = artifacts.Combine("images").CombineWithFilePath("busybox.tar.gz").FullPath;
        StartProcess("lxc", new ProcessSettings { Arguments = $"image import \"{image}\" --alias busybox", EnvironmentVariables = lxcEnv, RedirectStandardError = true });
        StartProcess("lxc", new ProcessSettings { Arguments = "delete --force run-c1", EnvironmentVariables = lxcEnv, RedirectStandardError = true });
        Run("lxc", "launch busybox run-c1", lxcEnv);
        // The image's init asks for a DHCP lease on eth0 in the background: wait for the address.
        var hasNic = Capture("lxc", "profile device list default", lxcEnv).Stdout.Contains("eth0");
        var ipv4 = "";
        for (var waited = 0; hasNic && ipv4.Length == 0 && waited < 600; waited++)
        {
            ipv4 = Capture("lxc", "list run-c1 --format csv -c 4", lxcEnv).Stdout.Trim();
            if (ipv4.Length == 0)
            {
                System.Threading.Thread.Sleep(100);
            }
        }
        Run("lxc", "list", lxcEnv);
        if (hasNic)
        {
            if (ipv4.Length == 0)
            {
                throw new CakeException("run-c1 got no DHCP lease on eth0 within 60 s");
            }
            Information($"run-c1 eth0: {ipv4}");
            var network = Capture("lxc", "profile device get default eth0 network", lxcEnv).Stdout.Trim();
            Run("lxc", $"network list-leases {network}", lxcEnv);
            var gateway = Capture("lxc", $"network get {network} ipv4.address", lxcEnv).Stdout.Trim().Split('/')[0];
            Run("lxc", $"exec run-c1 -- ping -c 1 -W 2 {gateway}", lxcEnv);
        }
        else
        {
            Warning("the default profile has no eth0: the container has loopback only");
        }
        Run("lxc", "exec run-c1 -- sh -c \"echo hello from run-c1; cat /proc/self/uid_map\"", lxcEnv);

        // A virtual machine next to the container: the same pool and default profile (its eth0 is a tap on
        // the same bridge). The VM test image boots its own kernel and runs qemu-guest-agent, which exec uses.
        var vmImage = artifacts.Combine("images").CombineWithFilePath("vm.tar.gz").FullPath;
        StartProcess("lxc", new ProcessSettings { Arguments = $"image import \"{vmImage}\" --alias vmimage", EnvironmentVariables = lxcEnv, RedirectStandardError = true });
        StartProcess("lxc", new ProcessSettings { Arguments = "delete --force run-vm1", EnvironmentVariables = lxcEnv, RedirectStandardError = true });
        Run("lxc", "launch --vm vmimage run-vm1", lxcEnv);
        // Running as soon as QEMU runs; exec works once the guest has booted to its agent (~7 s under TCG).
        var agentUp = false;
        var bootWatch = System.Diagnostics.Stopwatch.StartNew();
        while (!agentUp && bootWatch.Elapsed < TimeSpan.FromMinutes(4))
        {
            agentUp = Capture("lxc", "exec run-vm1 -- true", lxcEnv).Code == 0;
            if (!agentUp)
            {
                System.Threading.Thread.Sleep(250);
            }
        }
        if (!agentUp)
        {
            Run("lxc", "console run-vm1 --show-log", lxcEnv);
            throw new CakeException("run-vm1's guest agent did not answer within 4 minutes");
        }
        Information($"run-vm1: guest agent answering {bootWatch.Elapsed.TotalSeconds:0.0} s after the launch returned");
        Run("lxc", "exec run-vm1 -- uname -a", lxcEnv);
        Run("lxc", "exec run-vm1 -- sh -c \"grep -c ^processor /proc/cpuinfo; cat /proc/cmdline\"", lxcEnv);
        if (hasNic)
        {
            var vmIpv4 = "";
            for (var waited = 0; vmIpv4.Length == 0 && waited < 600; waited++)
            {
                vmIpv4 = Capture("lxc", "list run-vm1 --format csv -c 4", lxcEnv).Stdout.Trim().Split(' ')[0];
                if (vmIpv4.Length == 0)
                {
                    System.Threading.Thread.Sleep(100);
                }
            }
            if (vmIpv4.Length == 0)
            {
                throw new CakeException("run-vm1 got no DHCP lease on eth0 within 60 s");
            }
            Information($"run-vm1 eth0: {vmIpv4}; the container reaches it on the bridge");
            Run("lxc", $"exec run-c1 -- ping -c 1 -W 5 {vmIpv4}", lxcEnv);
        }
        Run("lxc", "list", lxcEnv);
        Run("lxc", "delete --force run-vm1", lxcEnv);
        Run("lxc", "delete --force run-c1", lxcEnv);

        if (keepRunning)
        {
            Information($"--keep-running: daemon left running as pid {daemon.Id} in network namespace {RunNetns}; stop it with " +
                $"`kill -TERM {daemon.Id}`, then `ip netns pids {RunNetns} | xargs -r kill; ip netns delete {RunNetns}`");
            stopped = true;
            netnsKept = true;
        }
    }
    catch
    {
        Error($"The Run job failed; daemon log: {logPath}");
        throw;
    }
    finally
    {
        if (!stopped)
        {
            Stop();
        }
        if (!netnsKept)
        {
            // dnsmasq and proxy forwarders outlive the daemon by design; the namespace goes with them.
            KillNetnsProcesses(RunNetns);
            Run("ip", $"netns delete {RunNetns}");
        }
    }
});

Task("Bench")
    .Description("Benchmark Hyperlxd (and LXD when installed) side by side")
    .IsDependentOn("Deps")
    .IsDependentOn("Native")
    .IsDependentOn("Build")
    .IsDependentOn("Images")
    .Does(() =>
{
    DotNetRun(benchProject.FullPath, new ProcessArgumentBuilder(), new DotNetRunSettings
    {
        Configuration = configuration,
        NoBuild = true,
        NoRestore = true,
        EnvironmentVariables = new Dictionary<string, string> { ["HYPERLXD_BIN"] = hyperlxdBin.FullPath },
    });
});

RunTarget(target);
