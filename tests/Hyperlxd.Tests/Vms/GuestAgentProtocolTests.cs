using System.Text;
using System.Text.Json;
using Hyperlxd.Vms;

namespace Hyperlxd.Tests.Vms;

/// <summary>The guest agent's wire protocol against a scripted agent (the transport is not what these test: VmDriverTests use a real one).</summary>
public sealed class GuestAgentProtocolTests
{
    /// <summary>Answers each request with the next scripted reply and records the requests.</summary>
    private sealed class ScriptedAgent(params Func<JsonElement, string>[] replies)
    {
        private int _next;
        public List<JsonElement> Requests { get; } = [];

        public GuestAgent Agent => new((json, _) =>
        {
            var request = JsonDocument.Parse(json).RootElement.Clone();
            Requests.Add(request);
            return replies[_next++](request);
        }, "vm");
    }

    private static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    [Fact]
    public async Task Exec_sends_path_args_env_and_stdin_then_polls_until_exited()
    {
        var agent = new ScriptedAgent(
            _ => """{"return": {"pid": 42}}""",
            _ => """{"return": {"exited": false}}""",
            _ => $$$"""{"return": {"exited": true, "exitcode": 3, "out-data": "{{{B64("out")}}}", "err-data": "{{{B64("err")}}}"}}""");
        var r = await agent.Agent.RunAsync("/bin/cat", ["-"], ["PATH=/bin"], Encoding.UTF8.GetBytes("in"), default);
        Assert.Equal(3, r.ExitCode);
        Assert.Equal("out", Encoding.UTF8.GetString(r.Stdout));
        Assert.Equal("err", Encoding.UTF8.GetString(r.Stderr));
        var exec = agent.Requests[0];
        Assert.Equal("guest-exec", exec.GetProperty("execute").GetString());
        var args = exec.GetProperty("arguments");
        Assert.Equal("/bin/cat", args.GetProperty("path").GetString());
        Assert.Equal("-", args.GetProperty("arg")[0].GetString());
        Assert.Equal("PATH=/bin", args.GetProperty("env")[0].GetString());
        Assert.Equal(B64("in"), args.GetProperty("input-data").GetString());
        Assert.True(args.GetProperty("capture-output").GetBoolean());
        Assert.Equal("guest-exec-status", agent.Requests[1].GetProperty("execute").GetString());
        Assert.Equal(42, agent.Requests[2].GetProperty("arguments").GetProperty("pid").GetInt64());
    }

    [Fact]
    public void A_signal_ends_with_128_plus_its_number() =>
        Assert.Equal(137, GuestAgent.Ended(new GuestExecStatus(true, null, 9, null, null, null, null)).ExitCode);

    [Fact]
    public async Task Files_are_written_in_64_KiB_chunks_and_read_until_eof_and_the_handle_closed()
    {
        var data = new byte[GuestAgent.Chunk + 10];
        Random.Shared.NextBytes(data);
        var written = new ScriptedAgent(
            _ => """{"return": 7}""",
            r => $$$"""{"return": {"count": {{{Convert.FromBase64String(r.GetProperty("arguments").GetProperty("buf-b64").GetString()!).Length}}}, "eof": false}}""",
            r => $$$"""{"return": {"count": {{{Convert.FromBase64String(r.GetProperty("arguments").GetProperty("buf-b64").GetString()!).Length}}}, "eof": false}}""",
            _ => """{"return": {}}""");
        await written.Agent.WriteFileAsync("/f", new MemoryStream(data), false, default);
        Assert.Equal(["guest-file-open", "guest-file-write", "guest-file-write", "guest-file-close"], written.Requests.Select(r => r.GetProperty("execute").GetString()!));
        Assert.Equal("w", written.Requests[0].GetProperty("arguments").GetProperty("mode").GetString());
        Assert.Equal(GuestAgent.Chunk, Convert.FromBase64String(written.Requests[1].GetProperty("arguments").GetProperty("buf-b64").GetString()!).Length);

        var read = new ScriptedAgent(
            _ => """{"return": 8}""",
            _ => $$$"""{"return": {"count": 2, "buf-b64": "{{{B64("ab")}}}", "eof": false}}""",
            _ => $$$"""{"return": {"count": 1, "buf-b64": "{{{B64("c")}}}", "eof": true}}""",
            _ => """{"return": {}}""");
        Assert.Equal("abc", Encoding.UTF8.GetString(await read.Agent.ReadFileAsync("/f", default)));
        Assert.Equal("guest-file-close", read.Requests[^1].GetProperty("execute").GetString());
        Assert.Equal(8, read.Requests[^1].GetProperty("arguments").GetProperty("handle").GetInt64());
    }

    [Fact]
    public async Task An_agent_error_becomes_its_description_and_the_handle_is_still_closed()
    {
        var agent = new ScriptedAgent(
            _ => """{"return": 9}""",
            _ => """{"error": {"class": "GenericError", "desc": "read failed: Is a directory"}}""",
            _ => """{"return": {}}""");
        var e = await Assert.ThrowsAsync<GuestAgentException>(() => agent.Agent.ReadFileAsync("/etc", default));
        Assert.Equal("read failed: Is a directory", e.Message);
        Assert.False(e.Unavailable);
        Assert.Equal("guest-file-close", agent.Requests[^1].GetProperty("execute").GetString());
    }

    [Fact]
    public void Commands_without_arguments_send_only_execute() =>
        Assert.Equal("""{"execute":"guest-ping"}""", GuestAgent.Request<GuestEmpty>("guest-ping", null, null));

    [Fact]
    public void Libvirts_agent_error_message_is_reduced_to_the_agents_own()
    {
        Assert.Equal("Failed to execute child process “x” (No such file or directory)",
            VmDriver.AgentMessage("internal error: unable to execute QEMU agent command 'guest-exec': Failed to execute child process “x” (No such file or directory)"));
        Assert.Equal(127, VmExecSession.NotRunnable("Failed to execute child process “x” (No such file or directory)"));
        Assert.Equal(126, VmExecSession.NotRunnable("Failed to execute child process “x” (Permission denied)"));
    }

    [Fact]
    public async Task The_exec_session_runs_once_stdin_is_closed_and_serves_the_output()
    {
        var agent = new ScriptedAgent(
            _ => """{"return": {"pid": 1}}""",
            r => $$$"""{"return": {"exited": true, "exitcode": 0, "out-data": "{{{B64("got it")}}}"}}""");
        await using var session = new VmExecSession(agent.Agent, "/bin/cat", [], [], TimeSpan.FromMinutes(5));
        await session.Stdin!.WriteAsync(Encoding.UTF8.GetBytes("input"));
        session.Stdin.Close();
        Assert.Equal(0, await session.WaitAsync(default));
        using var stdout = new StreamReader(session.Stdout!);
        using var stderr = new StreamReader(session.Stderr!);
        Assert.Equal("got it", await stdout.ReadToEndAsync());
        Assert.Equal("", await stderr.ReadToEndAsync());
        Assert.Equal(B64("input"), agent.Requests[0].GetProperty("arguments").GetProperty("input-data").GetString());
    }

    [Fact]
    public async Task A_client_that_never_writes_stdin_nor_closes_it_gets_the_command_run_without_stdin()
    {
        var agent = new ScriptedAgent(
            _ => """{"return": {"pid": 1}}""",
            _ => """{"return": {"exited": true, "exitcode": 0}}""");
        await using var session = new VmExecSession(agent.Agent, "/bin/true", [], [], TimeSpan.Zero);
        Assert.Equal(0, await session.WaitAsync(default));
        Assert.False(agent.Requests[0].GetProperty("arguments").TryGetProperty("input-data", out _));
    }
}
