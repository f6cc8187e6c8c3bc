using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Images;

/// <summary>The VM test image from artifacts/images (images/vm/build.sh; built here when missing).</summary>
public static class VmTestImage
{
    public static string Unified => Path.Combine(ImageFixture.ArtifactsDir, "vm.tar.gz");
    public static string Meta => Path.Combine(ImageFixture.ArtifactsDir, "vm.meta.tar.gz");
    public static string Rootfs => Path.Combine(ImageFixture.ArtifactsDir, "vm.rootfs.img");

    private static readonly SemaphoreSlim BuildLock = new(1, 1);

    /// <summary>`dotnet cake --target=Images` builds it; a plain `dotnet test` builds it here (its .debs cached in artifacts/cache/vm).</summary>
    public static async Task EnsureBuiltAsync()
    {
        await BuildLock.WaitAsync();
        try
        {
            if (!File.Exists(Rootfs) || !File.Exists(Unified) || !File.Exists(Meta))
            {
                var r = await ProcessRunner.RunAsync("bash", [Path.Combine(Repo.Root, "images", "vm", "build.sh"), ImageFixture.ArtifactsDir,
                    Path.Combine(Repo.Root, "artifacts", "cache", "vm")], timeout: TimeSpan.FromMinutes(20));
                Assert.True(r.ExitCode == 0, r.ToString());
            }
        }
        finally
        {
            BuildLock.Release();
        }
    }
}
