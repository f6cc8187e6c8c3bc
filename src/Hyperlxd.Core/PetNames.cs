namespace Hyperlxd.Core;

/// <summary>
/// Two-word names ("adjective-animal") for instances created without one, as LXD names them
/// (<c>lxc launch IMAGE</c>, <c>lxc copy c1</c>); always valid instance names.
/// </summary>
public static class PetNames
{
    private static readonly string[] Adjectives =
    [
        "able", "amazed", "amused", "apt", "bold", "brave", "bright", "calm", "careful", "champion", "clever",
        "cool", "cosmic", "crisp", "eager", "easy", "fair", "fancy", "fast", "fine", "fit", "fond", "free",
        "fresh", "gentle", "glad", "golden", "grand", "happy", "hardy", "honest", "humble", "keen", "kind",
        "light", "lively", "loyal", "lucky", "merry", "mighty", "modest", "neat", "noble", "open", "patient",
        "polite", "proud", "quick", "quiet", "rapid", "ready", "regal", "robust", "sharp", "shining", "smart",
        "smooth", "solid", "steady", "sunny", "super", "sure", "swift", "tidy", "tough", "true", "vast", "vital",
        "warm", "wise", "witty", "young", "zesty",
    ];

    private static readonly string[] Animals =
    [
        "alpaca", "ant", "badger", "bat", "bear", "beaver", "bee", "bison", "boar", "buck", "bull", "camel",
        "cat", "cheetah", "cobra", "condor", "crab", "crane", "cricket", "crow", "deer", "dingo", "dodo",
        "dog", "dolphin", "dove", "duck", "eagle", "eel", "elk", "emu", "falcon", "ferret", "finch", "fox",
        "frog", "gecko", "gibbon", "goat", "goose", "gopher", "hawk", "hen", "heron", "horse", "husky", "ibex",
        "jackal", "jaguar", "kid", "koala", "lamb", "lark", "lemur", "lion", "lynx", "macaw", "mole", "moose",
        "moth", "mule", "newt", "otter", "owl", "panda", "parrot", "pig", "pony", "puma", "quail", "rabbit",
        "raven", "seal", "shark", "sheep", "sloth", "snail", "squid", "stork", "swan", "tapir", "tiger",
        "toad", "trout", "turtle", "viper", "walrus", "wasp", "weasel", "whale", "wolf", "wombat", "yak", "zebra",
    ];

    /// <summary>A name none of <paramref name="taken"/> has; 400 after 100 tries, as LXD gives up.</summary>
    public static string Unused(IReadOnlySet<string> taken)
    {
        for (var i = 0; i < 100; i++)
        {
            var name = Adjectives[Random.Shared.Next(Adjectives.Length)] + "-" + Animals[Random.Shared.Next(Animals.Length)];
            if (!taken.Contains(name))
            {
                return name;
            }
        }
        throw new BadRequestException("Couldn't generate a new unique name after 100 tries: name the instance");
    }
}
