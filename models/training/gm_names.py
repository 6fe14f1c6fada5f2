"""General MIDI Level 1 names: the 128 melodic programs and the percussion key map (notes 35-81).

Used to label renders for training (language-queried extraction): each name
becomes a plain-English concept ("nylon-string acoustic guitar"), so captions
read like what a user types.
"""

PROGRAMS = (
    "acoustic grand piano", "bright acoustic piano", "electric grand piano", "honky-tonk piano",
    "electric piano", "electric piano (chorus)", "harpsichord", "clavinet",
    "celesta", "glockenspiel", "music box", "vibraphone", "marimba", "xylophone", "tubular bells", "dulcimer",
    "drawbar organ", "percussive organ", "rock organ", "church organ", "reed organ", "accordion", "harmonica",
    "tango accordion",
    "nylon-string acoustic guitar", "steel-string acoustic guitar", "jazz electric guitar", "clean electric guitar",
    "muted electric guitar", "overdriven guitar", "distortion guitar", "guitar harmonics",
    "acoustic bass", "fingered electric bass", "picked electric bass", "fretless bass", "slap bass", "slap bass",
    "synth bass", "synth bass",
    "violin", "viola", "cello", "contrabass", "tremolo strings", "pizzicato strings", "orchestral harp", "timpani",
    "string ensemble", "string ensemble", "synth strings", "synth strings", "choir aahs", "voice oohs",
    "synth voice", "orchestra hit",
    "trumpet", "trombone", "tuba", "muted trumpet", "french horn", "brass section", "synth brass", "synth brass",
    "soprano sax", "alto sax", "tenor sax", "baritone sax", "oboe", "english horn", "bassoon", "clarinet",
    "piccolo", "flute", "recorder", "pan flute", "blown bottle", "shakuhachi", "whistle", "ocarina",
    "square wave synth lead", "sawtooth synth lead", "calliope synth lead", "chiff synth lead",
    "charang synth lead", "voice synth lead", "fifths synth lead", "bass and lead synth",
    "new age synth pad", "warm synth pad", "polysynth pad", "choir synth pad", "bowed synth pad",
    "metallic synth pad", "halo synth pad", "sweep synth pad",
    "rain synth effect", "soundtrack synth effect", "crystal synth effect", "atmosphere synth effect",
    "brightness synth effect", "goblins synth effect", "echoes synth effect", "sci-fi synth effect",
    "sitar", "banjo", "shamisen", "koto", "kalimba", "bagpipe", "fiddle", "shehnai",
    "tinkle bell", "agogo", "steel drums", "woodblock", "taiko drum", "melodic tom", "synth drum",
    "reverse cymbal",
    "guitar fret noise", "breath noise", "seashore", "bird tweet", "telephone ring", "helicopter", "applause",
    "gunshot",
)
assert len(PROGRAMS) == 128

PERCUSSION = {
    35: "acoustic bass drum", 36: "bass drum", 37: "side stick", 38: "acoustic snare drum", 39: "hand clap",
    40: "electric snare drum", 41: "low floor tom", 42: "closed hi-hat", 43: "high floor tom", 44: "pedal hi-hat",
    45: "low tom", 46: "open hi-hat", 47: "low-mid tom", 48: "high-mid tom", 49: "crash cymbal", 50: "high tom",
    51: "ride cymbal", 52: "chinese cymbal", 53: "ride bell", 54: "tambourine", 55: "splash cymbal", 56: "cowbell",
    57: "crash cymbal", 58: "vibraslap", 59: "ride cymbal", 60: "high bongo", 61: "low bongo", 62: "muted high conga",
    63: "open high conga", 64: "low conga", 65: "high timbale", 66: "low timbale", 67: "high agogo", 68: "low agogo",
    69: "cabasa", 70: "maracas", 71: "short whistle", 72: "long whistle", 73: "short guiro", 74: "long guiro",
    75: "claves", 76: "high wood block", 77: "low wood block", 78: "muted cuica", 79: "open cuica",
    80: "muted triangle", 81: "open triangle",
}
# Broader concepts a render also belongs to (a query for "drums" should find a snare).
PROGRAM_FAMILIES = ("piano", "chromatic percussion", "organ", "guitar", "bass", "strings", "ensemble", "brass",
                    "reed instrument", "flute", "synth lead", "synth pad", "synth effect", "ethnic instrument",
                    "percussion", "sound effect")
assert len(PROGRAM_FAMILIES) == 16


def program_concepts(program: int) -> tuple[str, str]:
    """``(name, family)`` of a GM program 0..127."""
    return PROGRAMS[program], PROGRAM_FAMILIES[program // 8]
