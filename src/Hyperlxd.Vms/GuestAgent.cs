using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Hyperlxd.Vms;

/// <summary>
/// Sends one agent command (a JSON object) and returns the agent's reply; blocking. Throws
/// <see cref="GuestAgentException"/>. Through libvirt (<c>virDomainQemuAgentCommand</c>) the
/// guest-sync handshake that the raw protocol needs is libvirt's own.
/// </summary>
internal delegate string AgentTransport(string command, int timeoutSeconds);

/// <summary>The agent did not answer (<see cref="Unavailable"/>) or refused a command (its message).</summary>
internal sealed class GuestAgentException(string message, bool unavailable) : Exception(message)
{
    public bool Unavailable { get; } = unavailable;
}

/// <summary>An exec'd command's end: exit code (128+N for signal N, as a shell reports it) and its captured output.</summary>
internal sealed record GuestExecResult(int ExitCode, byte[] Stdout, byte[] Stderr);

/// <summary>
/// The qemu-guest-agent protocol (qga/qapi-schema.json): commands as JSON, blobs as base64, files
/// through handles. Requests larger than ~128 KiB time out in libvirt, so file data moves in
/// <see cref="Chunk"/>-sized pieces.
/// </summary>
internal sealed class GuestAgent(AgentTransport transport, string instance)
{
    public const int Chunk = 64 * 1024;

    /// <summary>Seconds an ordinary command may take before the agent counts as not answering.</summary>
    public int TimeoutSeconds { get; init; } = 10;

    public string Instance => instance;

    public Task PingAsync(int timeoutSeconds, CancellationToken ct) =>
        CallAsync("guest-ping", GuestAgentJson.Default.GuestEmpty, timeoutSeconds, ct);

    public async Task<long> ExecStartAsync(string path, IReadOnlyList<string> args, IReadOnlyList<string> env, byte[]? stdin, CancellationToken ct) =>
        (await CallAsync("guest-exec", new GuestExecRequest(path, args, env, stdin is { Length: > 0 } ? Convert.ToBase64String(stdin) : null, true),
            GuestAgentJson.Default.GuestExecRequest, GuestAgentJson.Default.GuestExecStarted, ct)).Pid;

    public Task<GuestExecStatus> ExecStatusAsync(long pid, CancellationToken ct) =>
        CallAsync("guest-exec-status", new GuestPidRequest(pid), GuestAgentJson.Default.GuestPidRequest, GuestAgentJson.Default.GuestExecStatus, ct);

    /// <summary>Runs a command to its end. Polls quickly first (most commands take milliseconds), then every 100 ms.</summary>
    public async Task<GuestExecResult> RunAsync(string path, IReadOnlyList<string> args, IReadOnlyList<string> env, byte[]? stdin, CancellationToken ct)
    {
        var pid = await ExecStartAsync(path, args, env, stdin, ct);
        var delay = 2;
        while (true)
        {
            var status = await ExecStatusAsync(pid, ct);
            if (status.Exited)
            {
                return Ended(status);
            }
            await Task.Delay(delay, ct);
            delay = Math.Min(delay * 2, 100);
        }
    }

    internal static GuestExecResult Ended(GuestExecStatus status) => new(
        status.ExitCode ?? (status.Signal is { } signal ? 128 + signal : -1),
        status.OutData is { } o ? Convert.FromBase64String(o) : [],
        status.ErrData is { } e ? Convert.FromBase64String(e) : []);

    /// <summary>A shell snippet (<c>sh -c SCRIPT sh ARGS...</c>) that must succeed; its stdout, or its stderr as the error.</summary>
    public async Task<string> ShellAsync(string script, IReadOnlyList<string> args, CancellationToken ct)
    {
        var r = await RunAsync("/bin/sh", ["-c", script, "sh", .. args], [], null, ct);
        return r.ExitCode == 0
            ? Encoding.UTF8.GetString(r.Stdout)
            : throw new GuestAgentException(Encoding.UTF8.GetString(r.Stderr).Trim() is { Length: > 0 } err ? err : $"exit code {r.ExitCode}", false);
    }

    public async Task<byte[]> ReadFileAsync(string path, CancellationToken ct)
    {
        var handle = await OpenAsync(path, "r", ct);
        try
        {
            using var content = new MemoryStream();
            while (true)
            {
                var read = await CallAsync("guest-file-read", new GuestFileReadRequest(handle, Chunk), GuestAgentJson.Default.GuestFileReadRequest,
                    GuestAgentJson.Default.GuestFileRead, ct);
                if (read.Buffer is { Length: > 0 } b64)
                {
                    content.Write(Convert.FromBase64String(b64));
                }
                if (read.Eof || read.Count == 0)
                {
                    return content.ToArray();
                }
            }
        }
        finally
        {
            await CloseAsync(handle);
        }
    }

    /// <summary>Writes (or with <paramref name="append"/>, appends) <paramref name="content"/> in <see cref="Chunk"/>-sized requests.</summary>
    public async Task WriteFileAsync(string path, Stream content, bool append, CancellationToken ct)
    {
        var handle = await OpenAsync(path, append ? "a" : "w", ct);
        try
        {
            var buffer = new byte[Chunk];
            while (true)
            {
                var n = await content.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct);
                if (n == 0)
                {
                    return;
                }
                var written = await CallAsync("guest-file-write", new GuestFileWriteRequest(handle, Convert.ToBase64String(buffer, 0, n)),
                    GuestAgentJson.Default.GuestFileWriteRequest, GuestAgentJson.Default.GuestFileWrite, ct);
                if (written.Count != n)
                {
                    throw new GuestAgentException($"short write to {path} in the guest ({written.Count} of {n} bytes)", false);
                }
                if (n < buffer.Length)
                {
                    return;
                }
            }
        }
        finally
        {
            await CloseAsync(handle);
        }
    }

    public Task<List<GuestInterface>> InterfacesAsync(int timeoutSeconds, CancellationToken ct) =>
        CallAsync("guest-network-get-interfaces", GuestAgentJson.Default.ListGuestInterface, timeoutSeconds, ct);

    /// <summary>Freezes the guest's filesystems (the number frozen); undone by <see cref="ThawAsync"/>.</summary>
    public Task<long> FreezeAsync(CancellationToken ct) => CallAsync("guest-fsfreeze-freeze", GuestAgentJson.Default.Int64, TimeoutSeconds, ct);

    public Task<long> ThawAsync(CancellationToken ct) => CallAsync("guest-fsfreeze-thaw", GuestAgentJson.Default.Int64, TimeoutSeconds, ct);

    private Task<long> OpenAsync(string path, string mode, CancellationToken ct) =>
        CallAsync("guest-file-open", new GuestFileOpenRequest(path, mode), GuestAgentJson.Default.GuestFileOpenRequest, GuestAgentJson.Default.Int64, ct);

    private async Task CloseAsync(long handle)
    {
        try
        {
            await CallAsync("guest-file-close", new GuestHandleRequest(handle), GuestAgentJson.Default.GuestHandleRequest,
                GuestAgentJson.Default.GuestEmpty, CancellationToken.None);
        }
        catch (GuestAgentException)
        {
            // the agent went away: its handles went with it
        }
    }

    private Task<TResult> CallAsync<TArgs, TResult>(string command, TArgs args, JsonTypeInfo<TArgs> argsInfo, JsonTypeInfo<TResult> resultInfo, CancellationToken ct) =>
        SendAsync(Request(command, args, argsInfo), resultInfo, TimeoutSeconds, ct);

    private Task<TResult> CallAsync<TResult>(string command, JsonTypeInfo<TResult> resultInfo, int timeoutSeconds, CancellationToken ct) =>
        SendAsync(Request<GuestEmpty>(command, null, null), resultInfo, timeoutSeconds, ct);

    private async Task<TResult> SendAsync<TResult>(string request, JsonTypeInfo<TResult> resultInfo, int timeoutSeconds, CancellationToken ct)
    {
        // The native call blocks (up to its timeout): off the caller's thread; a cancelled caller stops waiting for it.
        var reply = await Task.Run(() => transport(request, timeoutSeconds), CancellationToken.None).WaitAsync(ct);
        return Reply(reply, resultInfo);
    }

    /// <summary><c>{"execute": COMMAND, "arguments": ARGS}</c>.</summary>
    internal static string Request<TArgs>(string command, TArgs? args, JsonTypeInfo<TArgs>? info)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("execute", command);
            if (args is not null && info is not null)
            {
                w.WritePropertyName("arguments");
                JsonSerializer.Serialize(w, args, info);
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The <c>return</c> member of a reply; an <c>error</c> member becomes a <see cref="GuestAgentException"/> with its description.</summary>
    internal static TResult Reply<TResult>(string reply, JsonTypeInfo<TResult> info)
    {
        try
        {
            using var doc = JsonDocument.Parse(reply);
            if (doc.RootElement.TryGetProperty("return", out var ret))
            {
                return ret.Deserialize(info) ?? throw new GuestAgentException("the guest agent sent an empty reply", false);
            }
            if (doc.RootElement.TryGetProperty("error", out var error))
            {
                var desc = error.TryGetProperty("desc", out var d) ? d.GetString() : error.ToString();
                throw new GuestAgentException(desc ?? "the guest agent refused the command", false);
            }
            throw new GuestAgentException($"unexpected guest agent reply: {reply}", false);
        }
        catch (JsonException e)
        {
            throw new GuestAgentException($"malformed guest agent reply: {e.Message}", false);
        }
    }
}
