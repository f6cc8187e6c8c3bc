using Hyperlxd.Interop.Linux;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Unit;

/// <summary>
/// Syscalls.OpenBeneath (openat2 RESOLVE_BENEATH) on a real tree: what a restricted project's host disk is
/// pinned with. Links inside are followed; "..", absolute links and links leading out are EXDEV.
/// </summary>
public sealed class OpenBeneathTests : IDisposable
{
    private readonly string _tmp = Repo.TempDir("hlx-beneath-");

    public void Dispose() => Directory.Delete(_tmp, recursive: true);

    [Fact]
    public void Links_inside_are_followed_and_nothing_leads_out()
    {
        var allowed = Directory.CreateDirectory(Path.Combine(_tmp, "allowed", "sub")).Parent!.FullName;
        var other = Directory.CreateDirectory(Path.Combine(_tmp, "other")).FullName;
        File.WriteAllText(Path.Combine(allowed, "sub", "f"), "x");
        File.CreateSymbolicLink(Path.Combine(allowed, "rel"), "sub");
        File.CreateSymbolicLink(Path.Combine(allowed, "abs-inside"), Path.Combine(allowed, "sub"));
        File.CreateSymbolicLink(Path.Combine(allowed, "up"), "../other");
        File.CreateSymbolicLink(Path.Combine(allowed, "abs-out"), other);

        using (var dir = Syscalls.OpenBeneath(allowed, "rel"))
        {
            Assert.True(Syscalls.IsDirectory(dir));
        }
        using (var file = Syscalls.OpenBeneath(allowed, "rel/f"))
        {
            Assert.False(Syscalls.IsDirectory(file));
        }
        foreach (var escape in new[] { "up", "abs-out", "abs-inside", "../other", "sub/../../other" })
        {
            var e = Assert.Throws<ErrnoException>(() => Syscalls.OpenBeneath(allowed, escape).Dispose());
            Assert.Equal(Errno.EXDEV, e.Errno);
        }
        Assert.Equal(Errno.ENOENT, Assert.Throws<ErrnoException>(() => Syscalls.OpenBeneath(allowed, "missing").Dispose()).Errno);
    }
}
