using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Hyperlxd.Core;

namespace Hyperlxd.Daemon.Hosting;

/// <summary>
/// pylxd's websocket client (ws4py over a unix socket) sends <c>Host: localhost:None</c>, which
/// Kestrel rejects with a bare 400 before any handler runs (Go's LXD accepts it). On the unix socket
/// only, the port of such a Host header is rewritten in place to <c>:80</c> plus spaces (same length;
/// header values are trimmed), so pylxd's execute and console work.
/// </summary>
internal static class UnixHostHeaderFix
{
    public static ConnectionDelegate Use(ConnectionDelegate next) => ctx =>
    {
        var inner = ctx.Transport;
        ctx.Transport = new Duplex(PipeReader.Create(new FixingStream(inner.Input.AsStream(leaveOpen: true))), inner.Output);
        return next(ctx);
    };

    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }

    private sealed class FixingStream(Stream inner) : ReadOnlyStream
    {
        private static ReadOnlySpan<byte> HostHeader => "\r\nHost: "u8;
        private static ReadOnlySpan<byte> NonePort => ":None"u8;
        private static ReadOnlySpan<byte> Replacement => ":80  "u8;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await inner.ReadAsync(buffer, cancellationToken);
            Fix(buffer.Span[..n]);
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = inner.Read(buffer, offset, count);
            Fix(buffer.AsSpan(offset, n));
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private static void Fix(Span<byte> data)
        {
            var at = data.IndexOf(HostHeader);
            if (at < 0)
            {
                return;
            }
            var value = data[(at + HostHeader.Length)..];
            var end = value.IndexOf("\r\n"u8);
            if (end >= NonePort.Length && value[..end].EndsWith(NonePort))
            {
                Replacement.CopyTo(value[(end - NonePort.Length)..end]);
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
