using Hyperlxd.Core;

namespace Hyperlxd.Images.Tar;

/// <summary>
/// How many bytes an image may unpack to, shared by all its parts (split images count metadata and
/// rootfs together). Exceeding it is a 413 naming the limit: a small compressed upload must not be
/// able to fill a disk.
/// </summary>
/// <param name="What">The limit as the error names it (a server key, or the pool's free space).</param>
public sealed class SizeBudget(long limit, string what)
{
    public long Limit => limit;
    public long Used { get; private set; }

    public void Charge(long bytes)
    {
        Used += bytes;
        if (Used > limit)
        {
            throw new PayloadTooLargeException($"Image too large: it unpacks to more than {what} ({limit} bytes)");
        }
    }
}

/// <summary>A read-only view that charges every byte read to a <see cref="SizeBudget"/>.</summary>
internal sealed class CountingStream(Stream inner, SizeBudget budget) : ReadOnlyStream
{
    public override int Read(byte[] buffer, int offset, int count) => Counted(inner.Read(buffer, offset, count));

    public override int Read(Span<byte> buffer) => Counted(inner.Read(buffer));

    private int Counted(int n)
    {
        budget.Charge(n);
        return n;
    }
}
