namespace Hyperlxd.Core;

/// <summary>
/// Undo steps for a multi-step change, run in reverse order unless <see cref="Success"/> is called
/// (LXD's shared/revert). Use with <c>await using</c> so any exit path that is not a success reverts.
/// </summary>
public sealed class Reverter : IAsyncDisposable
{
    private readonly List<Func<Task>> _undo = new();
    private bool _done;

    public void Add(Action undo) => _undo.Add(() => { undo(); return Task.CompletedTask; });

    public void Add(Func<Task> undo) => _undo.Add(undo);

    public void Success() => _done = true;

    /// <summary>Runs every undo step even when one fails; the failures are returned, never thrown.</summary>
    public async Task<IReadOnlyList<Exception>> FailAsync()
    {
        _done = true;
        var errors = new List<Exception>();
        for (var i = _undo.Count - 1; i >= 0; i--)
        {
            try
            {
                await _undo[i]();
            }
            catch (Exception e)
            {
                errors.Add(e);
            }
        }
        _undo.Clear();
        return errors;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_done)
        {
            await FailAsync();
        }
    }
}
