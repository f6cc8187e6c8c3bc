using System.Text;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Tests.Containers;

/// <summary>
/// The prepared exec helper (attach --deferred): one per running container, already in its cgroups
/// and namespaces, that the next non-interactive exec hands its command to; left out of the state's
/// process count, not kept under limits.processes, gone with the container.
/// </summary>
[Collection("containers")]
public sealed class ExecSpareTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    /// <summary>hyperlxd-nsexec --deferred children of this test process that sit in <paramref name="name"/>'s cgroups.</summary>
    private static List<int> Prepared(string name)
    {
        var me = Environment.ProcessId.ToString();
        var result = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                if (stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1] == me && stat.Contains("(hyperlxd-nsexec)")
                    && File.ReadAllText(Path.Combine(dir, "cmdline")).Contains("--deferred")
                    && File.ReadLines(Path.Combine(dir, "cgroup")).Any(l => l.EndsWith("/" + name, StringComparison.Ordinal)))
                {
                    result.Add(int.Parse(Path.GetFileName(dir)));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // gone meanwhile
            }
        }
        return result;
    }

    private static async Task<List<int>> PreparedSoonAsync(string name, Func<List<int>, bool> ok)
    {
        var found = Prepared(name);
        for (var i = 0; i < 250 && !ok(found); i++)
        {
            await Task.Delay(20);
            found = Prepared(name);
        }
        return found;
    }

    private static async Task<(int Code, string Out)> RunAsync(TestContainer c, ExecOptions options, string stdin = "")
    {
        await using var s = await c.Driver.ExecAsync(c.Spec, options, None);
        await s.Stdin!.WriteAsync(Encoding.UTF8.GetBytes(stdin));
        s.Stdin.Close();
        using var stdout = new StreamReader(s.Stdout!);
        var output = stdout.ReadToEndAsync();
        var code = await s.WaitAsync(None);
        return (code, await output);
    }

    [Fact]
    public async Task Execs_take_the_prepared_helper_with_their_ids_dir_env_and_stdin_and_a_new_one_follows()
    {
        await using var c = await TestContainer.CreateAsync();
        var first = await PreparedSoonAsync(c.Name, l => l.Count == 1);
        Assert.Single(first);

        // The state counts the container's tasks, not the waiting helper nor its child that waits to
        // become the command (the one in the memory cgroup: issue 9, finding 13).
        var state = await c.Driver.GetStateAsync(c.Spec, None);
        var inGroup = File.ReadAllLines(Path.Combine("/sys/fs/cgroup/pids", c.CgroupParent, c.Name, "cgroup.procs")).Count(l => l.Length > 0);
        Assert.Equal(inGroup - 2, state.Processes);

        var env = new Dictionary<string, string> { ["FOO"] = "bar baz", ["EMPTY"] = "" };
        var (code, output) = await RunAsync(c, new ExecOptions(new[] { "sh", "-c", "id -u; id -g; pwd; echo \"$FOO|$EMPTY|\"; cat; exit 3" },
            env, false, 0, 0, 1000, 1001, "/tmp"), "from stdin\n");
        Assert.Equal(3, code);
        Assert.Equal("1000\n1001\n/tmp\nbar baz||\nfrom stdin\n", output);

        // That exec used the prepared helper (it is gone), and the next one is there.
        var second = await PreparedSoonAsync(c.Name, l => l.Count == 1 && l[0] != first[0]);
        Assert.Single(second);
        Assert.NotEqual(first[0], second[0]);
        Assert.False(Directory.Exists($"/proc/{first[0]}"), "the used helper is reaped");

        // A missing binary still comes back as a non-zero status through a prepared helper.
        var (missing, _) = await RunAsync(c, new ExecOptions(new[] { "/no/such/binary" }, new Dictionary<string, string>(), false, 0, 0, 0, 0, "/"));
        Assert.Equal(127, missing);

        // Stopping ends the waiting helper with the container.
        await c.Driver.StopAsync(c.Spec, true, TimeSpan.Zero, None);
        await c.Driver.CleanupAsync(c.Spec, None);
        Assert.Empty(await PreparedSoonAsync(c.Name, l => l.Count == 0));
        Assert.False(Directory.Exists(Path.Combine("/sys/fs/cgroup/pids", c.CgroupParent, c.Name)));
    }

    [Fact]
    public async Task No_prepared_helper_where_limits_processes_counts_every_task()
    {
        await using var c = await TestContainer.CreateAsync(new Dictionary<string, string> { ["limits.processes"] = "50" });
        Assert.Equal(0, (await RunAsync(c, new ExecOptions(new[] { "true" }, new Dictionary<string, string>(), false, 0, 0, 0, 0, "/"))).Code);
        await Task.Delay(300); // a refill, were one started, would have joined by now
        Assert.Empty(Prepared(c.Name));
    }
}
