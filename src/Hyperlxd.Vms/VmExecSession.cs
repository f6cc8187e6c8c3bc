using System.Text;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Vms;

/// <summary>
/// A command run through the guest agent (<c>guest-exec</c>): the agent takes all of stdin with the
/// request and hands back stdout and stderr when the command has ended, so the session gathers stdin
/// first (until the client closes it, or — a client that writes nothing and keeps it open — for
/// <paramref name="stdinGrace"/>), then runs the command and serves its output. The exit code is the
/// command's (127/126 when it cannot be found or run, as a shell says); no pty, no signals.
/// </summary>
internal sealed class VmExecSession : IExecSession
{
    /// <summary>The most stdin one request carries (libvirt times out requests beyond ~128 KiB of base64).</summary>
    public const int MaxStdin = 64 * 1024;

    private readonly StdinBuffer _stdin = new(MaxStdin);
    private readonly OutputStream _stdout = new();
    private readonly OutputStream _stderr = new();
    private readonly Task<int> _run;

    public VmExecSession(GuestAgent agent, string path, IReadOnlyList<string> args, IReadOnlyList<string> env, TimeSpan stdinGrace)
    {
        _run = RunAsync(agent, path, args, env, stdinGrace);
    }

    public Stream? Stdin => _stdin;

    public Stream? Stdout => _stdout;

    public Stream? Stderr => _stderr;

    public Stream? Pty => null;

    public Task<int> WaitAsync(CancellationToken ct) => _run.WaitAsync(ct);

    /// <summary>The agent has no way to signal a command it started: dropped (the driver does not declare signals).</summary>
    public void Signal(int signal)
    {
    }

    public void Resize(int width, int height)
    {
    }

    private async Task<int> RunAsync(GuestAgent agent, string path, IReadOnlyList<string> args, IReadOnlyList<string> env, TimeSpan stdinGrace)
    {
        try
        {
            var input = await _stdin.GatherAsync(stdinGrace);
            GuestExecResult result;
            try
            {
                result = await agent.RunAsync(path, args, env, input, CancellationToken.None);
            }
            catch (GuestAgentException e) when (!e.Unavailable && NotRunnable(e.Message) is { } code)
            {
                result = new GuestExecResult(code, [], Encoding.UTF8.GetBytes(e.Message + "\n"));
            }
            _stdout.Complete(result.Stdout);
            _stderr.Complete(result.Stderr);
            return result.ExitCode;
        }
        finally
        {
            _stdout.Complete([]);
            _stderr.Complete([]);
        }
    }

    /// <summary>glib's spawn errors (the agent's message) as a shell's exit status: 127 not found, 126 not executable.</summary>
    internal static int? NotRunnable(string message) =>
        message.Contains("No such file or directory", StringComparison.Ordinal) ? 127
        : message.Contains("Permission denied", StringComparison.Ordinal) || message.Contains("Exec format error", StringComparison.Ordinal) ? 126
        : null;

    public async ValueTask DisposeAsync()
    {
        await _stdin.DisposeAsync();
        try
        {
            await _run;
        }
        catch (Exception e) when (e is GuestAgentException or OperationCanceledException or IOException)
        {
            // reported by WaitAsync to whoever waited
        }
        await _stdout.DisposeAsync();
        await _stderr.DisposeAsync();
    }

    /// <summary>Collects what the client writes to stdin until it closes it; writes after the command started are dropped.</summary>
    internal sealed class StdinBuffer(int max) : Stream
    {
        private readonly MemoryStream _data = new();
        private readonly TaskCompletionSource _eof = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private bool _started;
        private bool _tooLarge;

        /// <summary>Stdin once closed; without any byte within <paramref name="grace"/>, none (the command starts anyway).</summary>
        public async Task<byte[]?> GatherAsync(TimeSpan grace)
        {
            await Task.WhenAny(_eof.Task, Task.Delay(grace));
            lock (_data)
            {
                if (!_eof.Task.IsCompleted && _data.Length == 0)
                {
                    _started = true;
                    return null;
                }
            }
            await _eof.Task;
            lock (_data)
            {
                _started = true;
                return _tooLarge
                    ? throw new GuestAgentException($"stdin for a command in a virtual machine is limited to {max / 1024} KiB (the guest agent takes it in one request)", false)
                    : _data.ToArray();
            }
        }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            lock (_data)
            {
                if (_started)
                {
                    return;
                }
                if (_data.Length + buffer.Length > max)
                {
                    _tooLarge = true;
                    return;
                }
                _data.Write(buffer);
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct)
        {
            Write(buffer.AsSpan(offset, count));
            return Task.CompletedTask;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _eof.TrySetResult();
                lock (_data)
                {
                    _data.Dispose();
                    _started = true;
                }
            }
            base.Dispose(disposing);
        }
    }

    /// <summary>Output that exists only once the command has ended: reads wait for it, then drain it.</summary>
    internal sealed class OutputStream : Stream
    {
        private readonly TaskCompletionSource<byte[]> _data = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _offset;

        public void Complete(byte[] data) => _data.TrySetResult(data);

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Drain(_data.Task.GetAwaiter().GetResult(), buffer.AsSpan(offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) =>
            Drain(await _data.Task.WaitAsync(ct), buffer.Span);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
            ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

        private int Drain(byte[] data, Span<byte> target)
        {
            var n = Math.Min(target.Length, data.Length - _offset);
            data.AsSpan(_offset, n).CopyTo(target);
            _offset += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _data.TrySetResult([]);
            }
            base.Dispose(disposing);
        }
    }
}
