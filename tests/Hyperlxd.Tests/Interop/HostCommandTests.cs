using System.Diagnostics;
using Hyperlxd.Interop.Linux;

namespace Hyperlxd.Tests.Interop;

public sealed class HostCommandTests
{
    [Fact]
    public async Task Returns_stdout_of_a_program_that_succeeds()
    {
        Assert.Equal("a b\n", await HostCommand.RunAsync("echo", ["a", "b"]));
    }

    [Fact]
    public async Task A_failure_names_the_program_its_exit_code_and_trimmed_stderr()
    {
        var e = await Assert.ThrowsAsync<HostCommandFailedException>(() =>
            HostCommand.RunAsync("sh", ["-c", "echo '  disk on fire  ' >&2; exit 3"]));
        Assert.Equal(3, e.ExitCode);
        Assert.Equal("sh", e.Program);
        Assert.Equal("disk on fire", e.Stderr);
        Assert.Contains("sh -c", e.Message, StringComparison.Ordinal);
        Assert.EndsWith(": disk on fire", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_silent_failure_reports_the_exit_status()
    {
        var e = await Assert.ThrowsAsync<HostCommandFailedException>(() => HostCommand.RunAsync("false", []));
        Assert.EndsWith("exit status 1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unchecked_run_returns_the_exit_code_and_both_streams()
    {
        var r = await HostCommand.RunUncheckedAsync("sh", ["-c", "echo out; echo err >&2; exit 7"]);
        Assert.Equal(new HostCommandResult(7, "out\n", "err\n"), r);
    }

    [Fact]
    public async Task Stdin_is_written_and_closed()
    {
        var options = HostCommandOptions.Default with { Stdin = "line one\nline two\n" };
        Assert.Equal("2\n", await HostCommand.RunAsync("wc", ["-l"], options));
    }

    [Fact]
    public async Task Environment_is_set_and_removed()
    {
        Environment.SetEnvironmentVariable("HLX_TEST_REMOVED", "present");
        var options = HostCommandOptions.Default with
        {
            Environment = new Dictionary<string, string?> { ["HLX_TEST_SET"] = "yes", ["HLX_TEST_REMOVED"] = null },
        };
        Assert.Equal("yes-\n", await HostCommand.RunAsync("sh", ["-c", "echo \"$HLX_TEST_SET-$HLX_TEST_REMOVED\""], options));
    }

    [Fact]
    public async Task Timeout_kills_the_program_and_its_children_and_says_so()
    {
        var pidFile = Path.Combine(Path.GetTempPath(), "hlx-hostcmd-" + Guid.NewGuid().ToString("N"));
        try
        {
            var options = HostCommandOptions.Default with { Timeout = TimeSpan.FromMilliseconds(300) };
            var watch = Stopwatch.StartNew();
            var e = await Assert.ThrowsAsync<TimeoutException>(() =>
                HostCommand.RunAsync("sh", ["-c", $"sleep 30 & echo $! > {pidFile}; wait"], options));
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
            Assert.Contains("killed after", e.Message, StringComparison.Ordinal);
            var child = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            await WaitGoneAsync(child);
        }
        finally
        {
            File.Delete(pidFile);
        }
    }

    [Fact]
    public async Task Cancellation_kills_the_program_and_is_reported_as_cancellation()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var watch = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => HostCommand.RunAsync("sleep", ["30"], ct: cts.Token));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task Default_children_die_with_the_daemon_and_detached_ones_do_not()
    {
        Assert.Contains("Parent death signal: KILL", await HostCommand.RunAsync("setpriv", ["--dump"]), StringComparison.Ordinal);
        Assert.Contains("Parent death signal: [none]",
            await HostCommand.RunAsync("setpriv", ["--dump"], HostCommandOptions.Detached), StringComparison.Ordinal);
        // Long-lived ones too, forked by the spawner thread of this process.
        var p = HostCommand.Start("setpriv", ["--dump"], HostCommandOptions.Default, Redirect.Stdout);
        using var _ = p.OwnPipes();
        Assert.Contains("Parent death signal: KILL", await p.StandardOutput.ReadToEndAsync(), StringComparison.Ordinal);
        await p.WaitForExitAsync();
    }

    [Fact]
    public async Task Start_hands_over_a_long_lived_child_with_its_pipes()
    {
        var p = HostCommand.Start("cat", [], HostCommandOptions.Detached, Redirect.Stdin | Redirect.Stdout);
        using var _ = p.OwnPipes();
        await p.StandardInput.WriteAsync("ping\n");
        p.StandardInput.Close();
        Assert.Equal("ping\n", await p.StandardOutput.ReadToEndAsync());
        await p.WaitForExitAsync();
        Assert.Equal(0, p.ExitCode);
    }

    private static async Task WaitGoneAsync(int pid)
    {
        for (var i = 0; i < 100 && Directory.Exists($"/proc/{pid}") && !IsZombie(pid); i++)
        {
            await Task.Delay(50);
        }
        Assert.True(!Directory.Exists($"/proc/{pid}") || IsZombie(pid), $"pid {pid} is still running");
    }

    private static bool IsZombie(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[stat.LastIndexOf(')') + 2] == 'Z';
        }
        catch (IOException)
        {
            return true;
        }
    }
}
